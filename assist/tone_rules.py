"""The tone check's machinery: each language's bank (``prompts/banks/tone``) compiled once, and text surgery.

Everything language-specific is data in the banks; this module only compiles it (once per language, cached)
and knows the shapes of text that carry across languages: sentences, clauses, timeframes and the edits that
turn a draft into its rewrite.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from prompts import FALLBACK_LANGUAGE, SUPPORTED_LANGUAGES, load_bank

BANK = "tone"
FLAGS = re.IGNORECASE | re.MULTILINE
_ESCAPED = re.compile(r"\\.")
_AFTER_DELETION = re.compile(r"[ \t]*(,?)[ \t]*")
UNITS = ("bdays", "days", "hours", "weeks")
DAYS_PER_UNIT = {"bdays": 1.0, "days": 1.0, "hours": 1 / 24, "weeks": 7.0}
WORDS = re.compile(r"\w+(?:['’-]\w+)*")
COMBINING = re.compile(r"[\u0300-\u036f]")
SENTENCE_END = re.compile(r"[.!?…;]+(?=\s|$)|\n")
SENTENCE_OPENERS = ".!?…\n¡¿"
SEPARATORS = " \t,"
# What <START> stands for in a feature lexicon: the start of the text or of a sentence (opening marks skipped).
OPENING = r"[\s¡¿\"“„«(]*"
START = r"(?:^|(?<=[.!?…])\s+)" + OPENING


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    replacement: str
    needle: str = ""  # lower-case text every match contains: a fast pre-check ("" = always search)


@dataclass(frozen=True)
class Rule:
    kind: str
    dimension: str
    weight: float
    message: str
    alt_message: str
    patterns: tuple[Pattern, ...]
    suggestion: str = ""  # shown when the fix removes the span and leaves no sentence to show
    confirm: re.Pattern[str] | None = None  # ambiguous words: a finding of them needs the learned scorer's support
    why: Mapping[str, str] = field(default_factory=dict)  # reasons by move, filled into the message's {why}


@dataclass(frozen=True)
class Cue:
    """A feature lexicon compiled; ``at_start`` when every pattern is a sentence opening (matched per sentence)."""

    regex: re.Pattern[str]
    at_start: bool


@dataclass(frozen=True)
class Model:
    """A dimension's fitted logistic model: ``cap`` times the chance the text is *not* good comes off the dimension."""

    cap: float
    bias: float
    weights: Mapping[str, float]

    def penalty(self, values: Mapping[str, float]) -> float:
        """How much the features ``values`` take off the dimension: 0 (surely good) .. ``cap``."""
        z = self.bias + sum(weight * values.get(name, 0.0) for name, weight in self.weights.items())
        return self.cap / (1.0 + math.exp(min(50.0, z)))


@dataclass(frozen=True)
class Frame:
    """A timeframe: ``low`` (to ``high``) ``unit``; ``days`` is its lower bound, ``most`` its upper bound."""

    low: int
    high: int | None
    unit: str

    @property
    def days(self) -> float:
        return self.low * DAYS_PER_UNIT[self.unit]

    @property
    def most(self) -> float:
        return (self.high or self.low) * DAYS_PER_UNIT[self.unit]


@dataclass(frozen=True)
class PromiseRules:
    future: re.Pattern[str]
    clause_break: re.Pattern[str]
    instant: re.Pattern[str]
    tomorrow: re.Pattern[str]
    duration: re.Pattern[str]
    numbers: Mapping[str, int]
    within: str
    soon: str
    units: Mapping[str, tuple[str, str]]
    topics: Mapping[str, re.Pattern[str]]


@dataclass(frozen=True)
class ToneBank:
    language: str
    rules: Mapping[str, Rule]
    greeting: re.Pattern[str]
    default_greeting: str
    greet_with_name: str
    address: tuple[tuple[re.Pattern[str], str, str], ...]
    greeting_punct: str
    acknowledgement: str
    self_service: str
    acknowledgements: re.Pattern[str]
    negations: re.Pattern[str]
    honorifics: frozenset[str]
    caps_allowlist: frozenset[str]
    caps_emphasis: frozenset[str]
    promises: PromiseRules
    scoring: Mapping[str, Any]
    limits: Mapping[str, int]
    features: Mapping[str, Cue]
    models: Mapping[str, Model]
    weighed: frozenset[str]  # the features some model gives a weight: the only ones a check computes


def bank_language(language: str) -> str:
    """The language whose bank serves ``language`` (English when there is none)."""
    code = language.strip().lower()
    return code if code in SUPPORTED_LANGUAGES else FALLBACK_LANGUAGE


@cache
def tone_bank(language: str) -> ToneBank:
    """The compiled tone bank for ``language`` (cached: the regexes are compiled once per language)."""
    lang = bank_language(language)
    raw = load_bank(BANK, lang)
    text = raw["text"]
    return ToneBank(
        language=lang,
        rules={kind: _rule(kind, spec) for kind, spec in raw["rules"].items()},
        greeting=re.compile(text["greeting"], re.IGNORECASE),
        default_greeting=text["default_greeting"],
        greet_with_name=text["greet_with_name"],
        address=tuple((re.compile(regex), replacement, template) for regex, replacement, template in text["address"]),
        greeting_punct=text["greeting_punct"],
        acknowledgement=text["acknowledgement"],
        self_service=text["self_service"],
        acknowledgements=re.compile("|".join(f"(?:{p})" for p in text["acknowledgements"]), FLAGS),
        negations=re.compile(text["negations"], FLAGS),
        honorifics=frozenset(h.casefold() for h in text["honorifics"]),
        caps_allowlist=frozenset(text["caps_allowlist"]),
        caps_emphasis=frozenset(text["caps_emphasis"]),
        promises=_promise_rules(raw["promises"]),
        scoring=raw["scoring"],
        limits=raw["limits"],
        features={name: _compile_cue(patterns) for name, patterns in raw["features"].items()},
        models=(models := _models(raw["scoring"])),
        weighed=frozenset(name for model in models.values() for name, weight in model.weights.items() if weight),
    )


def _compile_cue(patterns: Sequence[str]) -> Cue:
    # Lexicons are lower case and searched in the lower-cased draft: three times faster than IGNORECASE.
    # Sentence openings are matched at each sentence start rather than searched for everywhere.
    if all(p.startswith("<START>") for p in patterns):
        alternatives = "|".join(f"(?:{p.removeprefix('<START>')})" for p in patterns)
        return Cue(re.compile(f"{OPENING}(?:{alternatives})", re.MULTILINE), at_start=True)
    alternatives = "|".join(f"(?:{p.replace('<START>', START)})" for p in patterns)
    return Cue(re.compile(alternatives, re.MULTILINE), at_start=False)


def _models(scoring: Mapping[str, Any]) -> dict[str, Model]:
    caps, fitted = scoring["model_caps"], scoring["models"]
    return {
        dimension: Model(float(caps[dimension]), float(spec["bias"]), {k: float(v) for k, v in spec["weights"].items()})
        for dimension, spec in fitted.items()
    }


def _rule(kind: str, spec: Mapping[str, Any]) -> Rule:
    patterns = tuple(
        Pattern(re.compile(regex, FLAGS), replacement, needle(regex)) for regex, replacement in spec["patterns"]
    )
    return Rule(
        kind, spec["dimension"], float(spec["weight"]), spec["message"], spec["alt_message"], patterns,
        suggestion=spec.get("suggestion", ""), why=dict(spec.get("why", {})),
        confirm=re.compile("|".join(spec["confirm"]), FLAGS) if spec.get("confirm") else None,
    )  # fmt: skip


def needle(regex: str) -> str:
    """The longest literal (lower case, 3+ characters) that every match of ``regex`` contains, or "".

    Only literals outside groups and classes count, and none when the pattern has a top-level "|": this keeps
    the answer safe while letting most patterns be skipped with a substring test instead of a regex scan.
    """
    runs, run, depth, in_class = [], "", 0, False
    for c in _ESCAPED.sub("\0", regex):
        if in_class:
            in_class = c != "]"
            continue
        if c == "|" and depth == 0:
            return ""
        if depth == 0 and (c.isalpha() or c in " '"):
            run += c
            continue
        runs.append(run[:-1] if c in "?*{" else run)
        run, depth, in_class = "", depth + (c == "(") - (c == ")"), c == "["
    literal = max((r.strip() for r in [*runs, run]), key=len, default="")
    return literal.lower() if len(literal) >= 3 else ""


def _promise_rules(spec: Mapping[str, Any]) -> PromiseRules:
    numbers = {word.casefold(): int(value) for word, value in spec["number_words"]}
    alternatives = sorted(numbers, key=len, reverse=True)
    number = "(?:\\d+|" + "|".join(re.escape(word) for word in alternatives) + ")"
    return PromiseRules(
        future=re.compile(spec["future"], FLAGS),
        clause_break=re.compile(spec["clause_break"], FLAGS),
        instant=re.compile(spec["instant"], FLAGS),
        tomorrow=re.compile(spec["tomorrow"], FLAGS),
        duration=re.compile(spec["duration"].replace("<NUM>", number), FLAGS),
        numbers=numbers,
        within=spec["within"],
        soon=spec["soon"],
        units={unit: (forms[0], forms[1]) for unit, forms in spec["units"].items()},
        topics={topic: re.compile(regex, FLAGS) for topic, regex in spec["topics"].items()},
    )


def sentences(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each sentence (or line) of ``text``, surrounding spaces excluded."""
    start = 0
    for m in SENTENCE_END.finditer(text):
        yield from _trimmed(text, start, m.end())
        start = m.end()
    yield from _trimmed(text, start, len(text))


def clauses(text: str, breaks: re.Pattern[str]) -> Iterator[tuple[int, int]]:
    """Sentences of ``text`` further cut at the conjunctions in ``breaks`` ("and", "but"…)."""
    for s0, s1 in sentences(text):
        start = s0
        for m in breaks.finditer(text, s0, s1):
            yield start, m.start()
            start = m.end()
        yield start, s1


def sentence_around(spans: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """From the sentence (one of ``spans``, see ``sentences``) holding ``start`` to the one holding ``end``."""
    s0 = max((a for a, _ in spans if a <= start), default=start)
    s1 = min((b for _, b in spans if b >= end), default=end)
    return min(s0, start), max(s1, end)


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end


def parse_frame(m: re.Match[str], rules: PromiseRules) -> Frame | None:
    """The timeframe a ``duration`` match states, or None when its number is not understood."""
    low = _number(m["n"], rules)
    high = _number(m["m"], rules) if m["m"] else None
    unit = next((u for u in UNITS if m[u]), None)
    if low is None or unit is None:
        return None
    return Frame(low, high if high and high > low else None, unit)


def _number(word: str, rules: PromiseRules) -> int | None:
    return int(word) if word.isdigit() else rules.numbers.get(word.casefold())


def render_frame(frame: Frame, rules: PromiseRules) -> str:
    """``frame`` in the bank's language: "5 business days", "3–5 giorni lavorativi"."""
    singular, plural = rules.units[frame.unit]
    if frame.high:
        return f"{frame.low}–{frame.high} {plural}"
    return f"{frame.low} {singular if frame.low == 1 else plural}"


@lru_cache(maxsize=256)
def policy_frames(policy_texts: tuple[str, ...]) -> dict[str, Frame]:
    """The shortest timeframe the policies state for each promise topic (refund, delivery, replacement).

    Policies may be written in any supported language (a knowledge base is often English only), so every
    bank reads them; topics are the same keys in every bank.
    """
    found: dict[str, Frame] = {}
    for text in policy_texts:
        for lang in SUPPORTED_LANGUAGES:
            rules = tone_bank(lang).promises
            for c0, c1 in clauses(text, rules.clause_break):
                _collect(text[c0:c1], rules, found)
    return found


def _collect(clause: str, rules: PromiseRules, found: dict[str, Frame]) -> None:
    topics = [topic for topic, regex in rules.topics.items() if regex.search(clause)]
    if not topics:
        return
    for m in rules.duration.finditer(clause):
        frame = parse_frame(m, rules)
        for topic in topics:
            if frame and (topic not in found or frame.days < found[topic].days):
                found[topic] = frame


def name_used(text: str, name: str, bank: ToneBank) -> bool:
    """Whether ``text`` calls the customer by (a part of) ``name``, accents and case aside."""
    folded = fold(text)
    for token in map(fold, _name_tokens(name, bank)):
        # Polish declines names (Anna -> Pani Anno, Jan -> Panie Janie, Marek -> Marku): match the stem.
        declined = bank.language == "pl"
        stem = token[: max(3, len(token) - 2)] if declined else token
        tail = "" if declined else r"\b"
        if re.search(rf"\b{re.escape(stem)}{tail}", folded):
            return True
    return False


def _name_tokens(name: str, bank: ToneBank) -> list[str]:
    return [t for t in WORDS.findall(name) if len(t) >= 2 and t.casefold().rstrip(".") not in bank.honorifics]


def addressed(name: str, bank: ToneBank) -> str:
    """How the greeting names the customer: the first name, in the form the bank's ``address`` gives it."""
    tokens: list[str] = WORDS.findall(name)
    if not tokens or tokens[0].casefold() in bank.honorifics:
        return name
    for regex, replacement, template in bank.address:
        if regex.search(tokens[0]):
            return template.replace("{name}", regex.sub(replacement, tokens[0], count=1))
    return tokens[0]


def greeting_line(bank: ToneBank, who: str, word: str | None) -> str:
    """The greeting ``word`` (or the bank's default) with ``who``: "Hello Anna", "Hola, Lucía"."""
    return bank.greet_with_name.replace("{greeting}", word or bank.default_greeting).replace("{name}", who)


def greeting_for(bank: ToneBank, name: str | None) -> str:
    """The whole greeting that replaces a form-letter one ("Dear customer,")."""
    head = greeting_line(bank, addressed(name, bank), None) if name else bank.default_greeting
    return head + bank.greeting_punct


def fold(text: str) -> str:
    """``text`` case-folded and without accents, for matching names."""
    return COMBINING.sub("", unicodedata.normalize("NFKD", text.casefold()))


@dataclass(frozen=True)
class Edit:
    """Replace ``start:end`` of the draft with ``text`` (an insertion when start == end)."""

    start: int
    end: int
    text: str
    priority: int = 3
    seq: int = 0
    capitalize_next: bool = False


def chosen_edits(edits: Iterable[Edit], text: str) -> list[Edit]:
    """The edits to apply, sorted: on overlap the higher priority (then the longer) edit wins.

    A deletion that only overlaps in the comma or spaces it takes along still applies, without them.
    """
    accepted: list[Edit] = []
    for edit in sorted(set(edits), key=lambda e: (-e.priority, e.start - e.end, e.start, e.seq)):
        for candidate in (edit, _core(edit, text)):
            if not any(conflict(candidate, other) for other in accepted):
                accepted.append(candidate)
                break
    return sorted(accepted, key=position)


def deletion_span(text: str, start: int, end: int, *, floor: int = 0) -> tuple[int, int]:
    """What deleting ``text[start:end]`` removes: the marker with the comma and spaces that go with it.

    "Obviously, it shipped" loses "Obviously, "; "It shipped, obviously." loses ", obviously"; "It, as I
    said, shipped" loses ", as I said,". A comma before ``floor`` (the greeting's) is never taken.
    """
    after = _AFTER_DELETION.match(text, end)
    stop, comma_after = (after.end(), bool(after[1])) if after else (end, False)
    comma = text.rfind(",", floor, start)
    comma_before = comma >= 0 and not text[comma + 1 : start].strip(" \t")
    closes = stop >= len(text) or text[stop] in ".!?;:)"
    if comma_before and (closes or comma_after):
        return comma, end if closes else stop
    return start, end if closes else stop


def _core(edit: Edit, text: str) -> Edit:
    if edit.text:
        return edit
    start, end = edit.start, edit.end
    while start < end and text[start] in SEPARATORS:
        start += 1
    while end > start and text[end - 1] in SEPARATORS:
        end -= 1
    return Edit(start, end, "", edit.priority, edit.seq, edit.capitalize_next)


def position(edit: Edit) -> tuple[int, int, int]:
    """Sort key putting edits in text order (insertions at one point in ``seq`` order)."""
    return edit.start, edit.end, edit.seq


def conflict(a: Edit, b: Edit) -> bool:
    """Whether two edits touch the same characters (insertions only clash with a span around them)."""
    if a.start == a.end and b.start == b.end:
        return False
    if a.start == a.end:
        return b.start < a.start < b.end
    if b.start == b.end:
        return a.start < b.start < a.end
    return a.start < b.end and b.start < a.end


def splice(text: str, edits: Sequence[Edit]) -> str:
    """``text`` with ``edits`` (sorted, non-overlapping) applied, keeping sentences capitalised and spaced."""
    out, pos, cap = "", 0, False
    for edit in edits:
        out, cap = _emit(out, text[pos : edit.start], cap)
        replacement, opens = edit.text, _opens_sentence(out)
        if not replacement:
            out, replacement = _join(out, text[edit.end : edit.end + 1])
            cap = cap or opens
        elif opens:
            replacement = replacement[0].upper() + replacement[1:]
        out, cap = _emit(out, replacement, cap)
        cap = cap or edit.capitalize_next or replacement.rstrip()[-1:] in (".", "!", "?")
        pos = edit.end
    return _emit(out, text[pos:], cap)[0]


def _emit(out: str, piece: str, cap: bool) -> tuple[str, bool]:
    stripped = piece.lstrip()
    if not cap or not stripped:
        return out + piece, cap
    i = len(piece) - len(stripped)
    return out + piece[:i] + piece[i].upper() + piece[i + 1 :], False


def _join(out: str, following: str) -> tuple[str, str]:
    if out[-1:].isalnum() and following.isalnum():
        return out, " "
    if out[-1:] in (" ", "\t") and (not following or following in " \t,.;:!?"):
        return out.rstrip(" \t"), ""
    return out, ""


def _opens_sentence(out: str) -> bool:
    before = out.rstrip(" \t")
    return not before or before[-1] in SENTENCE_OPENERS
