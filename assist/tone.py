"""The tone check of an agent's draft reply: deterministic, in the draft's language, with a rewrite.

Each issue points at the exact offending span (``text[start:end]``) and says why in the draft's language;
the rewrite replaces or removes those spans and, where needed, greets the customer by name and acknowledges
how they feel, leaving every fact (numbers, amounts, dates, order ids, URLs, emails) as it was. The patterns
are data in ``prompts/banks/tone/<lang>.toml``, compiled once per language by ``assist.tone_bank``; promises and timeframes are read by ``assist.promises``.

Only those patterns raise issues. The dimension scores also weigh softer cues (the banks' ``[features]``
lexicons, punctuation, capitals, negations) with logistic models fitted on outside data by
``evals/_tone_fit.py``: they rank drafts, and never put an issue in front of an agent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from assist.edits import Edit, chosen_edits, conflict, deletion_span, position, splice
from assist.greeting import addressed, greeting_for, greeting_line, name_used
from assist.language import detect_language
from assist.models import ContactLevel, ToneDimensions, ToneIssue, ToneReport
from assist.promises import Frame, PromiseBank, clauses, policy_frames, promise_bank, render_frame, time_promises
from assist.sarcasm import MAX_SENTENCES, SarcasmScorer
from assist.text import sentence_around, sentence_spans
from assist.tone_bank import WORDS, Cue, Pattern, ToneBank, tone_bank

DIMENSIONS = ("calm", "non_sarcastic", "personalised", "professional", "empathetic")
SARCASM_DIMENSION = "non_sarcastic"
# A lone capitalised word this long shouts; shorter ones may be product acronyms (OLED, QLED) unless in the bank.
LONE_CAPS_LETTERS = 6
_CAPS_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_CHUNK = re.compile(r"\S+")
_CODE = re.compile(r"\d|\w[-./@_:]\w")  # order ids, URLs, emails, file names: their capitals are not shouting
_QUOTED_WORD = re.compile(r"[\"'“‘«„]\w+[\"'”’»“][.,;:!?)]*")  # a quoted label ("SUBMIT") is not shouting
_FACT = re.compile(r"\d|https?://|www\.|\S@\S")
_ELLIPSIS = re.compile(r"\.{3}|…")
_QUOTED = re.compile(r"[\"“”«»„]\w[^\"“”«»„\n]{0,30}[\"“”«»„]")
# Features counted per word (times RATE_SCALE, at most 1: a fifth of the words saturates); the other lexicon
# features only say whether the draft has the cue at all, so a long draft is not judged by its length.
RATE_SCALE = 5.0
RATES = frozenset({"second_person"})
_TRIM = " \t\r\n,"


@dataclass
class Finding:
    kind: str
    start: int
    end: int
    edits: list[Edit] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)
    suggestion: str | None = None
    alt: bool = False
    whole: bool = False


@dataclass(frozen=True)
class Draft:
    """The draft and what every check needs to know about it, computed once."""

    text: str
    bank: ToneBank
    name: str | None
    spans: list[tuple[int, int]]
    greeting: re.Match[str] | None
    words: int
    name_used: bool
    acknowledges: bool
    lowered: str

    @classmethod
    def read(cls, text: str, bank: ToneBank, name: str | None) -> Draft:
        greeting = bank.greeting.match(text)
        used = name is not None and name_used(text, name, bank)
        ack = bank.acknowledgements.search(text) is not None
        spans, words = sentence_spans(text, semicolons=True), len(WORDS.findall(text))
        return cls(text, bank, name, spans, greeting, words, used, ack, text.lower())

    @property
    def body(self) -> int:
        """Where the text after the greeting starts."""
        return _trim(self.text, self.greeting.end() if self.greeting else 0, len(self.text))[0]


def check_tone(
    text: str,
    *,
    language: str | None = None,
    customer_name: str | None = None,
    contact_level: ContactLevel | None = None,
    customer_upset: bool = False,
    policy_texts: Sequence[str] = (),
    sarcasm: SarcasmScorer | None = None,
    customer_text: str | None = None,
) -> ToneReport:
    """Score the tone of the draft ``text`` per dimension, list its issues with exact spans, and rewrite it.

    ``language`` is detected from ``text`` when None. ``policy_texts`` (the policies retrieved for the case)
    let promises be checked against the timeframes they state. ``sarcasm`` (the learned scorer) finds sarcasm
    no phrase names, and overrules a phrase that the whole sentence shows to be meant; it reads the draft as the
    answer to ``customer_text`` (the customer's last message) when given.
    """
    lang = (language or detect_language(text)).strip().lower()
    bank = tone_bank(lang)
    if not text.strip():
        perfect = ToneDimensions(**dict.fromkeys(DIMENSIONS, 1.0))
        return ToneReport(language=lang, score=1.0, dimensions=perfect, issues=[])
    draft = Draft.read(text, bank, (customer_name or "").strip() or None)
    findings = _marker_findings(draft) + _shouting(draft)
    findings += _promises(text, promise_bank(bank.language), policy_frames(tuple(policy_texts)))
    # A replacement that already acknowledges ("calm down" -> "I understand…") needs no second acknowledgement.
    acknowledged = any(bank.acknowledgements.search(e.text) for f in findings for e in f.edits)
    sarcastic, lowering = 0.0, None
    if sarcasm is not None:
        findings, sarcastic, lowering = _learned_sarcasm(draft, findings, sarcasm, context=customer_text)
        acknowledged = acknowledged or any(bank.acknowledgements.search(e.text) for f in findings for e in f.edits)
    findings += _personal_findings(draft, level=contact_level, upset=customer_upset, acknowledged=acknowledged)
    edits = chosen_edits((edit for finding in findings for edit in finding.edits), text)
    findings.sort(key=lambda f: (f.start, f.end))
    # With a ranking head, its lowering takes the place of the irony cues' fitted penalty (it ranks written irony
    # better: docs/evaluation.md, Sarcasm); the phrase findings and the drafts' model still count as before.
    dimensions = _dimensions(draft, findings, without=() if lowering is None else (SARCASM_DIMENSION,))
    ironic = dimensions["non_sarcastic"] - (lowering or 0.0)
    dimensions["non_sarcastic"] = round(max(0.0, min(ironic, 1.0 - sarcastic)), 3)
    rewrite = splice(text, edits) if edits else None
    return ToneReport(
        language=lang,
        score=_overall(dimensions, bank),
        dimensions=ToneDimensions(**dimensions),
        issues=[_issue(finding, draft, edits) for finding in findings],
        rewrite=rewrite if rewrite != text else None,
    )


def tone_features(text: str, *, language: str) -> dict[str, float]:
    """The features the scorer's fitted models read from ``text``, each 0..1 (see ``[features]`` in the banks)."""
    bank = tone_bank(language)
    return _features(Draft.read(text, bank, None), names=bank.features.keys())


def _features(draft: Draft, *, names: Iterable[str]) -> dict[str, float]:
    text, bank, words = draft.text, draft.bank, max(1, draft.words)
    values = dict.fromkeys(bank.features, 0.0)
    for name in names:
        if name in bank.features:
            values[name] = _cue(bank.features[name], draft, words=words, rate=name in RATES)
    loud = sum(1 for m in _caps_words(text) if m[0] not in bank.caps_allowlist)
    values |= {
        "acknowledgement": float(draft.acknowledges),
        "negation": min(1.0, RATE_SCALE * len(bank.negations.findall(text)) / words),
        "caps": min(1.0, RATE_SCALE * loud / words),
        "exclamation": min(1.0, text.count("!") / 2),
        "question": float("?" in text),
        "ellipsis": float(_ELLIPSIS.search(text) is not None),
        "quotes": float(_QUOTED.search(text) is not None),
    }
    # Praise next to a bad situation ("love waking up at 5") is the commonest shape of written irony.
    values["contrast"] = values["positive"] * values["situation"]
    return values


def _cue(cue: Cue, draft: Draft, *, words: int, rate: bool) -> float:
    regex, lowered = cue.regex, draft.lowered
    if cue.at_start:
        return float(any(regex.match(lowered, start) for start, _ in draft.spans))
    if not rate:
        return float(regex.search(lowered) is not None)
    return min(1.0, RATE_SCALE * sum(1 for _ in regex.finditer(lowered)) / words)


def _marker_findings(draft: Draft) -> list[Finding]:
    text, found = draft.text, []
    floor = draft.greeting.end() if draft.greeting else 0
    for rule in draft.bank.rules.values():
        for m, replacement in _non_overlapping(draft, rule.patterns):
            start, end = _trim(text, m.start(), m.end())
            if start >= end:
                continue
            if "\\" in replacement:
                replacement = m.expand(replacement)
            replacement = replacement.replace("{greeting}", greeting_for(draft.bank, draft.name))
            edit_span = deletion_span(text, m.start(), m.end(), floor=floor) if not replacement else m.span()
            found.append(Finding(rule.kind, start, end, [Edit(*edit_span, replacement)]))
    return found


def _non_overlapping(draft: Draft, patterns: Iterable[Pattern]) -> Iterator[tuple[re.Match[str], str]]:
    text, lowered = draft.text, draft.lowered
    searched = (p for p in patterns if not p.needle or p.needle in lowered)
    matches = [(m, p.replacement) for p in searched for m in p.regex.finditer(text) if m.end() > m.start()]
    matches.sort(key=lambda pair: (pair[0].start(), -pair[0].end()))
    last_end = -1
    for m, replacement in matches:
        if m.start() >= last_end:
            last_end = m.end()
            yield m, replacement


def _shouting(draft: Draft) -> list[Finding]:
    text, bank = draft.text, draft.bank
    groups: list[list[re.Match[str]]] = []
    for m in _caps_words(text):
        if groups and _joins(text[groups[-1][-1].end() : m.start()]):
            groups[-1].append(m)
        else:
            groups.append([m])
    names = {token.casefold() for token in WORDS.findall(draft.name or "")}
    found = []
    for group in groups:
        loud = [m for m in group if m[0] not in bank.caps_allowlist]
        if any(len(m[0]) >= LONE_CAPS_LETTERS or m[0] in bank.caps_emphasis for m in loud) or len(loud) >= 2:
            start, end = loud[0].start(), loud[-1].end()
            quiet = _CAPS_WORD.sub(lambda w: _quiet(w[0], bank, names), text[start:end])
            found.append(Finding("shouting", start, end, [Edit(start, end, quiet, priority=1)]))
    return found


def _caps_words(text: str) -> Iterator[re.Match[str]]:
    for m in _CAPS_WORD.finditer(text):
        if len(m[0]) >= 2 and m[0].isupper():
            start = max(text.rfind(space, 0, m.start()) for space in " \t\r\n") + 1
            chunk = _CHUNK.match(text, start)
            if chunk is None or not (_CODE.search(chunk[0]) or _QUOTED_WORD.fullmatch(chunk[0])):
                yield m


def _joins(gap: str) -> bool:
    """Whether two capitalised words separated by ``gap`` shout together ("DID I SAY", "STOP. NOW")."""
    return not any(c.islower() or c.isdigit() for c in gap) and all(len(w) == 1 for w in _CAPS_WORD.findall(gap))


def _quiet(word: str, bank: ToneBank, names: set[str]) -> str:
    if len(word) < 2 or not word.isupper() or word in bank.caps_allowlist:
        return word
    return word.capitalize() if word.casefold() in names else word.lower()


def _promises(text: str, rules: PromiseBank, frames: dict[str, Frame]) -> list[Finding]:
    found = []
    for c0, c1 in clauses(text, rules.clause_break):
        clause = text[c0:c1]
        topic = next((topic for topic, regex in rules.topics.items() if regex.search(clause)), None)
        if topic is None or not rules.future.search(clause):
            continue
        for start, end, most in time_promises(clause, rules):
            finding = _promise_finding(c0 + start, c0 + end, most, frames.get(topic), rules)
            if finding:
                found.append(finding)
    return found


def _promise_finding(start: int, end: int, most: float, policy: Frame | None, rules: PromiseBank) -> Finding | None:
    if policy is not None:
        if most >= policy.days:
            return None
        timeframe = render_frame(policy, rules)
        edit = Edit(start, end, rules.within.replace("{timeframe}", timeframe), priority=4)
        return Finding("unkeepable_promise", start, end, [edit], {"timeframe": timeframe})
    if most > 0:
        return None
    return Finding("absolute_promise", start, end, [Edit(start, end, rules.soon, priority=4)])


def _learned_sarcasm(
    draft: Draft, findings: list[Finding], scorer: SarcasmScorer, *, context: str | None
) -> tuple[list[Finding], float, float | None]:
    """The findings with the learned scorer's say: an ambiguous word ("obviously") in a sentence it finds sincere
    is dropped ("Obviously this is our fault, Sarah, I'm sorry"), and a sentence it finds sarcastic with no phrase
    found gets an issue.
    Also what sets the ``non_sarcastic`` score: the highest sentence probability (when at least the model's
    ``score_from``), and the ranking head's lowering (None without a head)."""
    text, bank, spans = draft.text, draft.bank, draft.spans[:MAX_SENTENCES]
    if not spans:
        return findings, 0.0, None
    probs, lowering = scorer.judge([text[a:b] for a, b in spans], context=context)
    kept, covered = [], set()
    for finding in findings:
        if bank.rules[finding.kind].dimension == SARCASM_DIMENSION:
            at = _sentence_index(spans, finding.start)
            if finding.start >= spans[-1][1]:  # past the sentences scored: the phrase stands
                kept.append(finding)
                continue
            # "Obviously" is sarcastic only in a sentence that reads so: "Obviously this should never have
            # happened, and I'm sorry" is meant. Unambiguous phrases ("good luck with that") always count.
            ambiguous = ambiguous_finding(bank, finding.kind, text, finding.start, finding.end, spans[at][1])
            if ambiguous and probs[at] < scorer.model.confirm_floor:
                continue
            covered.add(at)
        kept.append(finding)
    replaced = draft.acknowledges
    for i, ((a, b), p) in enumerate(zip(spans, probs, strict=True)):
        if p < scorer.threshold or i in covered:
            continue
        start, end = _trim(text, max(a, draft.body), b)  # a greeting in the sentence stays
        if start >= end:
            continue
        if replaced:  # the draft already says it understands: the mocking sentence just goes
            edit = Edit(*deletion_span(text, start, end, floor=draft.body), "", priority=4)
        else:
            edit, replaced = Edit(start, end, bank.acknowledgement, priority=4), True
        kept.append(Finding("irony", start, end, [edit], {"why": _move(text[start:end], bank)}))
    # The probability sets ``non_sarcastic`` from the model's ``score_from`` (by default its threshold: only when
    # it is sure enough to raise an issue); below that, the ranking head (or without one, the irony cues) sets it
    # (chosen on the tweet sets' training splits, docs/evaluation.md).
    top = max(probs)
    return kept, top if top >= scorer.model.scores_from else 0.0, lowering


def ambiguous_finding(bank: ToneBank, kind: str, text: str, start: int, end: int, sentence_end: int) -> bool:
    """Whether a finding is one of its rule's ambiguous words (``confirm``), read up to the end of its sentence
    so that what follows counts ("obviously you…" is aimed at the customer, not ambiguous)."""
    confirm = bank.rules[kind].confirm
    m = confirm.search(text, start, sentence_end) if confirm else None
    return m is not None and m.start() < end


def _sentence_index(spans: Sequence[tuple[int, int]], at: int) -> int:
    return next((i for i, (a, b) in enumerate(spans) if a <= at < b), len(spans) - 1)


def _move(sentence: str, bank: ToneBank) -> str:
    """Which sarcastic move a sentence makes, in the words of ``[rules.irony.why]``."""
    why = bank.rules["irony"].why
    if sentence.rstrip().endswith("?"):
        return why["question"]
    lowered = sentence.lower()
    if any(bank.features[c].regex.search(lowered) for c in ("gratitude", "praise", "positive") if c in bank.features):
        return why["praise"]
    return why["other"]


def _personal_findings(draft: Draft, *, level: ContactLevel | None, upset: bool, acknowledged: bool) -> list[Finding]:
    bank, words, at = draft.bank, draft.words, draft.body
    curt = level == "high_touch" and words < bank.limits["high_touch_min_words"]
    curt = curt and not draft.name_used and not draft.acknowledges
    found = [_missing_name(draft)] if draft.name and not draft.name_used else []
    ack_edits = [] if acknowledged else [Edit(at, at, bank.acknowledgement + " ", 5, seq=1, capitalize_next=True)]
    if upset and not draft.acknowledges:
        found.append(Finding("missing_acknowledgement", *sentence_around(draft.spans, at, at), ack_edits))
    if curt:
        start, end = _trim(draft.text, 0, len(draft.text))
        found.append(Finding("too_curt", start, end, [] if upset else ack_edits, {"words": str(words)}, whole=True))
    if level in ("low_touch", "no_touch") and words > bank.limits[f"{level}_max_words"]:
        found.append(_too_long(draft, level=level))
    return found


def _missing_name(draft: Draft) -> Finding:
    text, bank, greeting, name = draft.text, draft.bank, draft.greeting, draft.name or ""
    who = addressed(name, bank)
    if greeting and greeting.end() > greeting.start():
        start, end = _trim(text, greeting.start(), greeting.end())
        last = greeting[0].rstrip()[-1:]
        punct = last if last in (",", "!", ":") else bank.greeting_punct
        edit = Edit(start, greeting.end(), greeting_line(bank, who, greeting["word"]) + punct, priority=2)
        return Finding("missing_name", start, end, [edit], {"name": name})
    first = draft.body
    edit = Edit(first, first, greeting_line(bank, who, None) + bank.greeting_punct + "\n", priority=5)
    return Finding("missing_name", *sentence_around(draft.spans, first, first), [edit], {"name": name})


def _too_long(draft: Draft, *, level: str) -> Finding:
    text, bank, spans = draft.text, draft.bank, draft.spans
    limit, brief = bank.limits[f"{level}_max_words"], bank.limits["brief_words"]
    counts = [len(WORDS.findall(text, a, b)) for a, b in spans]
    total, cut, used = 0, spans[-1][0], 0
    lead: list[str] = []
    for (a, _), n in zip(spans, counts, strict=True):
        total += n
        if total > limit:
            cut = a
            break
    for (a, b), n in zip(spans, counts, strict=True):
        if lead and used + n > brief:
            break
        lead.append(text[a:b])
        used += n
    values = {"limit": str(limit), "words": str(draft.words)}
    suggestion = " ".join([*lead, bank.self_service])
    return Finding("too_long", cut, spans[-1][1], [], values, suggestion=suggestion, alt=level == "no_touch")


def _issue(finding: Finding, draft: Draft, edits: list[Edit]) -> ToneIssue:
    text, rule = draft.text, draft.bank.rules[finding.kind]
    template = rule.alt_message if finding.alt and rule.alt_message else rule.message
    values = {"span": _short(text[finding.start : finding.end]), **finding.values}
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    suggestion = finding.suggestion
    if finding.whole:
        suggestion = splice(text, edits).strip()
    elif suggestion is None:
        suggestion = _fixed_sentence(finding, draft, edits) or rule.suggestion
    return ToneIssue(
        kind=finding.kind, start=finding.start, end=finding.end, message=template,
        suggestion=suggestion, dimension=rule.dimension,
    )  # fmt: skip


def _fixed_sentence(finding: Finding, draft: Draft, edits: list[Edit]) -> str:
    """The sentence holding the finding with its own fix (and the other replacements in it) applied."""
    s0, s1 = sentence_around(draft.spans, finding.start, finding.end)
    mine = finding.edits
    inside = [e for e in edits if s0 <= e.start and e.end <= s1 and e.end > e.start and e not in mine]
    others = [e for e in inside if not any(conflict(e, m) for m in mine)]
    local = sorted([*(e for e in mine if s0 <= e.start and e.end <= s1), *others], key=position)
    shifted = [Edit(e.start - s0, e.end - s0, e.text, seq=e.seq, capitalize_next=e.capitalize_next) for e in local]
    return splice(draft.text[s0:s1], shifted).strip()


def _dimensions(draft: Draft, findings: list[Finding], *, without: Iterable[str] = ()) -> dict[str, float]:
    """Each dimension's score from the findings and the bank's fitted cue models (but those of ``without``)."""
    text, bank, s = draft.text, draft.bank, draft.bank.scoring
    scores = dict.fromkeys(DIMENSIONS, 1.0)
    for finding in findings:
        rule = bank.rules[finding.kind]
        scores[rule.dimension] -= rule.weight
    words = max(1, draft.words)
    loud = sum(len(_CAPS_WORD.findall(text, f.start, f.end)) for f in findings if f.kind == "shouting")
    bangs = text.count("!") / max(1, len(draft.spans))
    scores["calm"] -= _excess(loud / words, s["caps_ratio_free"], s["caps_ratio_slope"], s["feature_cap"])
    scores["calm"] -= _excess(bangs, s["exclamations_free"], s["exclamations_slope"], s["feature_cap"])
    if not (draft.name_used or _FACT.search(text)):
        scores["personalised"] -= s["no_specifics"]
    values = _features(draft, names=bank.weighed)
    skipped = set(without)
    for dimension, model in bank.models.items():
        if dimension not in skipped:
            scores[dimension] -= model.penalty(values)
    return {d: round(min(1.0, max(0.0, v)), 3) for d, v in scores.items()}


def _excess(value: float, free: float, slope: float, cap: float) -> float:
    return float(min(cap, max(0.0, value - free) * slope))


def _overall(dimensions: dict[str, float], bank: ToneBank) -> float:
    weights, blend = bank.scoring["dimension_weights"], bank.scoring["min_blend"]
    mean = sum(dimensions[d] * weights[d] for d in DIMENSIONS) / sum(weights[d] for d in DIMENSIONS)
    return round(float((1 - blend) * mean + blend * min(dimensions.values())), 3)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _TRIM:
        start += 1
    while end > start and text[end - 1] in _TRIM:
        end -= 1
    return start, end


def _short(span: str, limit: int = 80) -> str:
    return span if len(span) <= limit else span[: limit - 1].rstrip() + "…"
