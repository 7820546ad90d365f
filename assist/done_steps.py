"""Which steps the conversation already did, in any of its languages.

A step is done when:

- it asks the customer for things (an order number, a date, an amount, a photo or screenshot, an error code, a
  serial number) that the customer already gave, or that an agent already asked for: the identifiers are
  recognised by their shape, whatever the language, the words around them by every language's bank;
- the customer or the agent says it was done: a clause with a done marker ("already", "già", "ya", "już", not
  negated and not in a question) sharing enough of the step's content stems;
- a sentence of the conversation says it in substance, in any language (``Echoes``: e5 vectors): "I left it
  charging all night" does "ask them to charge it for 30 minutes", "what have you tried?" does "ask what the
  customer already tried".

Words come from ``prompts/banks/steps/<lang>.toml``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from types import MappingProxyType

import numpy as np

from assist.models import Conversation
from assist.ports import QueryEmbedder
from assist.procedures import is_question_sentence, markdown_sentences
from assist.promises import clauses, promise_bank
from assist.text import compile_folded, fold, sentence_spans, stems, words
from prompts import ROOT as PROMPTS
from prompts import SUPPORTED_LANGUAGES, load_bank

__all__ = [
    "DONE_FEATURES",
    "DoneModel",
    "DoneSteps",
    "Echoes",
    "Known",
    "asked_kinds",
    "done_features",
    "given",
    "lexicon",
    "weighed_done",
]

KINDS = ("order_number", "date", "amount", "photo", "error_code", "serial")
STATED = frozenset({"order_number", "date", "amount", "error_code", "serial"})  # an agent can state these too
# The shapes of what a customer gives, on folded text, whatever the language.
_ORDER = re.compile(r"(?<![\w/.-])(?:[a-z]{1,4}-?\d{4,}|#\s?\d{4,}|\d{6,})(?:-[a-z]{1,4})?(?![\w/-])")
# After a word that announces an order ("order", "pedido", "zamówienie"): any code of four digits or more, not a year,
# an amount or a date, within a few words ("order 5512", "el pedido es el 40917", "zam. nr 88412").
_ORDER_AFTER = re.compile(r"\D{0,20}?(?<![\w/.,-])((?:[a-z]{1,4}-?)?\d{4,}(?:-[a-z]{1,4})?)(?![\w/-]|[.,]\d)")
_YEAR = re.compile(r"(?:19|20)\d\d")
_AMOUNT = re.compile(
    r"(?:[€$£]\s?\d+(?:[.,]\d{1,2})?|\b\d+(?:[.,]\d{1,2})?\s?(?:€|\$|£|eur|euros?|zl|zlotych|pln|usd|gbp)\b"
    r"|\b\d+[.,]\d{2}\b)"
)
_DATE = re.compile(r"\b\d{1,2}[./-]\d{1,2}(?:[./-]\d{2,4})?\b|\b\d{4}-\d{2}-\d{2}\b")
_CODE = re.compile(r"\b[a-z]{0,4}[-_]?\d[\w-]{1,15}\b")
SENTENCE_CHARS = 120
_NEAR = 40  # characters between "error code" / "serial" and the code itself

BANK = "steps"
DONE_SHARED_STEMS = 2
DONE_SHARED_RATIO = 0.6
# An agent's question or report does a step when it shares this share of the step's content stems (at least 2).
AGENT_SHARED_RATIO = 0.5
# How far a negation may sit from a done marker and still cancel it ("haven't tried", "ya no").
NEGATION_BEFORE = 3
NEGATION_AFTER = 1

Phrase = tuple[str, ...]
_PAUSES = frozenset(",;:")


@dataclass(frozen=True)
class Lexicon:
    ignored: frozenset[str]
    done_markers: tuple[Phrase, ...]
    negations: frozenset[str]
    clause_breaks: tuple[Phrase, ...]
    vip_keywords: tuple[str, ...]
    commitment_markers: tuple[str, ...]

    def stems(self, text: str) -> set[str]:
        """The content stems of ``text``: stop words, procedure words, negations and done markers left out."""
        return stems(words(text), self.ignored)


@cache
def lexicon(languages: frozenset[str]) -> Lexicon:
    """The banks of ``languages`` merged: a conversation and its passages may not share a language."""
    banks = [load_bank(BANK, language) for language in sorted(languages)]

    def bank_words(key: str) -> frozenset[str]:
        return frozenset(word for bank in banks for entry in bank[key] for word in words(entry))

    def phrases(key: str) -> tuple[Phrase, ...]:
        return tuple(sorted({tuple(words(entry)) for bank in banks for entry in bank[key]} - {()}))

    markers, negations = phrases("done_markers"), bank_words("negations")
    ignored = bank_words("stopwords") | bank_words("procedure_words") | negations | {w for m in markers for w in m}
    return Lexicon(
        ignored=ignored,
        done_markers=markers,
        negations=negations,
        clause_breaks=phrases("clause_breaks"),
        vip_keywords=tuple(sorted(bank_words("vip_keywords"))),
        commitment_markers=tuple(sorted(bank_words("commitment_markers"))),
    )


def _starts_with(tokens: Sequence[str], index: int, phrase: Phrase) -> bool:
    return tuple(tokens[index : index + len(phrase)]) == phrase


def _clauses(tokens: list[str], breaks: tuple[Phrase, ...]) -> list[list[str]]:
    """``tokens`` cut where the sentence turns ("but", "ma", "pero", "ale")."""
    clauses: list[list[str]] = [[]]
    index = 0
    while index < len(tokens):
        phrase = next((b for b in breaks if _starts_with(tokens, index, b)), None)
        if phrase:
            clauses.append([])
            index += len(phrase)
        else:
            clauses[-1].append(tokens[index])
            index += 1
    return [clause for clause in clauses if clause]


def _negated(tokens: list[str], start: int, end: int, negations: frozenset[str]) -> bool:
    before: list[str] = []
    for token in reversed(tokens[max(0, start - NEGATION_BEFORE) : start]):
        if token in _PAUSES:  # "No, I already did" answers a question; it does not negate
            break
        before.append(token)
    return any(token in negations for token in [*before, *tokens[end : end + NEGATION_AFTER]])


def _says_done(clause: list[str], lexicon: Lexicon) -> bool:
    return any(
        _starts_with(clause, index, marker) and not _negated(clause, index, index + len(marker), lexicon.negations)
        for index in range(len(clause))
        for marker in lexicon.done_markers
    )


@dataclass(frozen=True)
class AgentSentence:
    """A sentence an agent wrote, as its content stems: a question asks, a statement not in the future reports."""

    text: str
    stems: frozenset[str]
    asks: bool


# Where a sentence turns, in every language: the report before "so the refund will…" still counts.
_CLAUSE_BREAKS = re.compile(
    "|".join(f"(?:{promise_bank(language).clause_break.pattern})" for language in SUPPORTED_LANGUAGES),
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)
def _reported(sentence: str) -> tuple[str, ...]:
    """The clauses of an agent's statement that report, not promise: "I've checked the order, so the refund will
    arrive…" reports the check; "I'll check with the warehouse" reports nothing. Cached: the words' rule and the
    echoes both read each agent statement, again at every draft edit."""
    banks = [promise_bank(language) for language in SUPPORTED_LANGUAGES]
    return tuple(
        sentence[c0:c1]
        for c0, c1 in clauses(sentence, _CLAUSE_BREAKS)
        if not any(b.future.search(sentence[c0:c1]) for b in banks)
    )


def _agent_sentences(conversation: Conversation, lexicon: Lexicon) -> tuple[AgentSentence, ...]:
    found: list[AgentSentence] = []
    for message in conversation.messages:
        if message.role != "agent":
            continue
        for start, end in markdown_sentences(message.text):
            sentence = message.text[start:end]
            if is_question_sentence(sentence):
                found.append(AgentSentence(sentence.strip(), frozenset(lexicon.stems(sentence)), asks=True))
                continue
            reported = _reported(sentence)
            if reported:
                stems_ = frozenset(s for part in reported for s in lexicon.stems(part))
                found.append(AgentSentence(sentence.strip(), stems_, asks=False))
    return tuple(found)


def _shares(wanted: set[str], said: frozenset[str], *, ratio: float) -> bool:
    shared = len(wanted & said)
    return shared >= DONE_SHARED_STEMS and shared >= ratio * len(wanted)


@dataclass(frozen=True)
class DoneSteps:
    """What the conversation says was already done (the content stems of each clause saying it), what it already
    holds, and what the agents already asked or reported."""

    lexicon: Lexicon
    clauses: tuple[frozenset[str], ...]
    known: Known = field(default_factory=lambda: Known())
    agent: tuple[AgentSentence, ...] = ()

    @classmethod
    def of(cls, conversation: Conversation, lexicon: Lexicon) -> DoneSteps:
        done: list[frozenset[str]] = []
        for message in conversation.messages:
            if message.role not in ("customer", "agent"):
                continue
            for start, end in markdown_sentences(message.text):
                sentence = message.text[start:end]
                if is_question_sentence(sentence):  # "Have you already restarted it?" asks, it does not tell
                    continue
                clauses = _clauses(words(sentence, pauses=True), lexicon.clause_breaks)
                done.extend(frozenset(stems(c, lexicon.ignored)) for c in clauses if _says_done(c, lexicon))
        return cls(lexicon, tuple(done), Known.of(conversation), _agent_sentences(conversation, lexicon))

    def reason(self, step_text: str) -> tuple[str, str] | None:
        """Why ``step_text`` is already done, as ``(label key, value)`` (see the banks' ``[done_labels]``), or None."""
        covered = self.known.covers(step_text)
        if covered is not None:
            return covered
        # A conditional step is done by its action ("If it is 3-D Secure, ask the customer to…"): a sentence that only
        # names its condition settles whether the step applies, it does not do it.
        wanted = self.lexicon.stems(action(step_text))
        for clause in self.clauses:
            shared = len(wanted & clause)
            if shared and (shared >= DONE_SHARED_STEMS or shared >= DONE_SHARED_RATIO * len(wanted)):
                return "said", ""
        asking = requests(step_text) and not asks_to_act(step_text)
        for sentence in self.agent:
            # A question does a step that asks; a report (not a promise) does a step that acts.
            if sentence.asks == asking and _shares(wanted, sentence.stems, ratio=AGENT_SHARED_RATIO):
                return ("asked" if asking else "agent"), sentence.text[:SENTENCE_CHARS]
        return None


@dataclass(frozen=True)
class AskRules:
    """What a step asks the customer for, and how a customer gives it, every supported language merged."""

    request: tuple[re.Pattern[str], ...]
    request_action: tuple[re.Pattern[str], ...]
    asks: dict[str, tuple[re.Pattern[str], ...]]
    sent: tuple[re.Pattern[str], ...]
    dates: tuple[re.Pattern[str], ...]
    error_words: tuple[re.Pattern[str], ...]
    serial_words: tuple[re.Pattern[str], ...]
    order_words: tuple[re.Pattern[str], ...]


@cache
def ask_rules() -> AskRules:
    banks = [load_bank(BANK, language) for language in SUPPORTED_LANGUAGES]
    return AskRules(
        request=compile_folded(b["request"] for b in banks),
        request_action=compile_folded(b["request_action"] for b in banks),
        asks={kind: compile_folded(b["asks"][kind] for b in banks) for kind in KINDS},
        sent=compile_folded(b["gives"]["sent"] for b in banks),
        dates=compile_folded(b["gives"]["date"] for b in banks),
        error_words=compile_folded(b["gives"]["error_code"] for b in banks),
        serial_words=compile_folded(b["gives"]["serial"] for b in banks),
        order_words=compile_folded(b["gives"]["order"] for b in banks),
    )


@lru_cache(maxsize=4096)
def asked_kinds(text: str) -> frozenset[str]:
    """The kinds of thing ``text`` (a step, or an agent's sentence) asks for or names."""
    folded, rules = fold(text), ask_rules()
    return frozenset(kind for kind, patterns in rules.asks.items() if any(p.search(folded) for p in patterns))


@lru_cache(maxsize=4096)
def requests(step_text: str) -> bool:
    """Whether a step asks the customer for something ("Ask for…", "Chiedi…", "Pide…", "Poproś o…")."""
    folded = fold(step_text)
    return any(p.search(folded) for p in ask_rules().request)


@lru_cache(maxsize=4096)
def asks_to_act(step_text: str) -> bool:
    """Whether a step asks the customer to do something ("Ask the customer to restart…")."""
    folded = fold(step_text)
    return any(p.search(folded) for p in ask_rules().request_action)


def _first(pattern: re.Pattern[str], folded: str, original: str, *, sentence: bool = False) -> str | None:
    """The words of ``original`` that ``pattern`` finds in its folded form; with ``sentence``, their sentence."""
    m = pattern.search(folded)
    if m is None:
        return None
    if sentence:
        around = next(((a, b) for a, b in sentence_spans(original) if a <= m.start() < b), m.span())
        return original[around[0] : around[1]][:SENTENCE_CHARS]
    return original[m.start() : m.end()].strip()


def _near_code(words_at: Sequence[re.Pattern[str]], folded: str, original: str) -> str | None:
    for pattern in words_at:
        for m in pattern.finditer(folded):
            code = _CODE.search(folded, m.end(), m.end() + _NEAR)
            if code:
                return original[code.start() : code.end()]
    return None


def _order_after(words_at: Sequence[re.Pattern[str]], folded: str, original: str) -> str | None:
    """The code after a word that announces an order ("order 5512"): four digits or more, not a year, an amount."""
    for pattern in words_at:
        for m in pattern.finditer(folded):
            code = _ORDER_AFTER.match(folded, m.end())
            if code is None or _YEAR.fullmatch(code.group(1)) or _AMOUNT.match(folded, code.start(1)):
                continue
            return original[code.start(1) : code.end(1)]
    return None


@lru_cache(maxsize=1024)
def given(text: str) -> Mapping[str, str]:
    """What a customer message gives, by kind, with the words that give it (an order number, a date…).

    Cached, like the step readings above: the same messages and steps come back with every draft edit."""
    folded, rules = fold(text), ask_rules()
    found: dict[str, str | None] = {
        "order_number": _first(_ORDER, folded, text) or _order_after(rules.order_words, folded, text),
        "amount": _first(_AMOUNT, folded, text),
        "date": _first(_DATE, folded, text) or next((v for p in rules.dates if (v := _first(p, folded, text))), None),
        "photo": next((v for p in rules.sent if (v := _first(p, folded, text, sentence=True))), None),
        "error_code": _near_code(rules.error_words, folded, text),
        "serial": _near_code(rules.serial_words, folded, text),
    }
    return MappingProxyType({kind: value for kind, value in found.items() if value})


@dataclass(frozen=True)
class Known:
    """What the conversation holds: what the customer gave (kind → words) and what an agent asked for."""

    given: dict[str, str] = field(default_factory=dict)
    asked: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, conversation: Conversation) -> Known:
        gave: dict[str, str] = {}
        asked: dict[str, str] = {}
        for message in conversation.messages:
            if message.role in ("customer", "agent"):
                # What an agent states ("I've checked order LM-8820451") is held by the conversation too.
                for kind, value in given(message.text).items():
                    if message.role == "customer" or kind in STATED:
                        gave.setdefault(kind, value)
            if message.role == "agent":
                for start, end in markdown_sentences(message.text):
                    sentence = message.text[start:end]
                    for kind in asked_kinds(sentence):
                        asked.setdefault(kind, sentence.strip())
        return cls(gave, asked)

    def covers(self, step_text: str) -> tuple[str, str] | None:
        """Why a step asking the customer for things is done: ``(label key, value)``, or None."""
        if not requests(step_text):
            return None
        kinds = asked_kinds(step_text)
        if not kinds or not kinds <= self.given.keys() | self.asked.keys():
            return None
        if kinds <= self.given.keys():
            first = next(kind for kind in KINDS if kind in kinds)
            return first, ", ".join(self.given[k] for k in KINDS if k in kinds)
        return "asked", next(self.asked[k] for k in KINDS if k in kinds and k in self.asked)


# A sentence of the conversation does a step in substance when its vector is nearest that step among its procedure's
# steps and at least this close (cosine of the language-neutral e5 query vectors). Chosen on the development split
# of the steps set (docs/evaluation.md, "Next steps"): at 0.90, 36 steps the authors marked done were found, 2 of
# the next steps and 2 later ones wrongly; at 0.88, 55 done for 11 next and 5 later. Another embedding model has
# its own scale: the threshold belongs to the bundled e5.
ECHO_MIN_COSINE = 0.88
ECHO_MIN_MARGIN = 0.01  # ... and this much nearer it than to the next nearest step
# An agent's question does the step nearest it from a lower cosine: asking is what a step that asks does, and an agent
# asks in few words ("Il monitor si accende?" for "Ask whether the product turns on or works at least in part and
# note it in the case": 0.864). On the development split, of the 20 agent questions, the nearest step at 0.84 or
# more (margin 0.01) was one the authors marked done for 14, a next one for 1 (already taken at 0.88) and another
# for 1 (python -m evals._steps_echo_probe, "agent questions").
ECHO_QUESTION_MIN_COSINE = 0.84
ECHO_MIN_WORDS = 3  # "Ok." or "Thanks!" is near nothing in particular
# A customer's sentence of more words than this is also read clause by clause: "I plugged it into another socket,
# with the original cable, and left it charging all night" does three steps, and one vector of it is near none of
# them. On the development split of the steps set (four authors) the share of suggested steps already done went
# 0.108 -> 0.098 (0.099 from 12 words), recall unchanged (docs/evaluation.md, "Next steps", session 18).
ECHO_CLAUSE_WORDS = 20
_ECHO_CUT = re.compile(r"[,;:()]\s+|\s+[-–—]\s+")


@cache
def _condition_openers() -> tuple[re.Pattern[str], ...]:
    banks = [load_bank(BANK, language) for language in SUPPORTED_LANGUAGES]
    return compile_folded(rf"^\s*{re.escape(fold(entry))}\b" for bank in banks for entry in bank["condition_openers"])


@cache
def _wish_and_done_markers() -> tuple[tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]]:
    banks = [load_bank(BANK, language) for language in SUPPORTED_LANGUAGES]

    def compiled(key: str) -> tuple[re.Pattern[str], ...]:
        return compile_folded(rf"(?<!\w){re.escape(fold(entry))}(?!\w)" for bank in banks for entry in bank[key])

    return compiled("wishes"), compiled("done_markers")


@lru_cache(maxsize=4096)
def asks_for(sentence: str) -> bool:
    """Whether a customer's sentence asks for something ("I need to change the delivery address", "quiero
    cancelarlo"): like a question, it asks for the step that does it rather than doing it; one that also says
    something was done ("I already asked you to…") still counts as saying so."""
    folded = fold(sentence)
    wishes, done = _wish_and_done_markers()
    return any(p.search(folded) for p in wishes) and not any(p.search(folded) for p in done)


@lru_cache(maxsize=4096)
def action(step_text: str) -> str:
    """What a step does: a conditional step's action after its condition ("If the tracking shows no movement for 5
    days, open a claim" → "open a claim"); any other step whole."""
    folded = fold(step_text)
    if "," not in step_text or not any(p.search(folded) for p in _condition_openers()):
        return step_text
    return step_text.split(",", 1)[1].strip() or step_text


@dataclass(frozen=True)
class Echo:
    """A sentence of the conversation, who said it and whether it asks."""

    role: str
    text: str
    asks: bool


def _echoes(role: str, text: str) -> list[Echo]:
    """What one sentence of the conversation can echo.

    A customer's question or wish asks for a step ("Could you open a claim?", "I need to change the address"); it
    does not do it. A long customer sentence is also read clause by clause (``ECHO_CLAUSE_WORDS``). An agent's
    question asks the customer, which does a step that asks; an agent's statement echoes what it reports, not what
    it promises ("I'll check the refund and get back to you")."""
    asks = is_question_sentence(text)
    if role == "customer":
        if asks or asks_for(text):
            return []
        parts = _ECHO_CUT.split(text) if len(words(text)) > ECHO_CLAUSE_WORDS else []
        clauses_ = [p.strip() for p in parts if len(words(p)) > ECHO_MIN_WORDS and p.strip() != text]
        return [Echo(role, text, False), *(Echo(role, part, False) for part in clauses_)]
    if asks:
        return [Echo(role, text, True)]
    reported = " ".join(_reported(text)).strip()
    return [Echo(role, reported, False)] if reported else []


@dataclass
class Echoes:
    """The conversation's sentences as vectors, to find the steps it already did in other words or languages."""

    embedder: QueryEmbedder
    sentences: list[Echo]
    _vectors: np.ndarray | None = None
    _steps: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of(cls, conversation: Conversation, embedder: QueryEmbedder) -> Echoes:
        kept: list[Echo] = []
        for message in conversation.messages:
            if message.role not in ("customer", "agent"):
                continue
            for start, end in markdown_sentences(message.text):
                text = " ".join(message.text[start:end].split())
                if len(words(text)) >= ECHO_MIN_WORDS:
                    kept.extend(_echoes(message.role, text))
        return cls(embedder, kept)

    def step_vectors(self, steps: Sequence[str]) -> np.ndarray:
        """The vectors of the steps' actions (``action``), one row each, embedded once per step text."""
        missing = [s for s in dict.fromkeys(steps) if s not in self._steps]
        if missing:
            self._steps.update(zip(missing, embed_all(self.embedder, [action(s) for s in missing]), strict=True))
        return np.vstack([self._steps[s] for s in steps])

    def vectors(self) -> np.ndarray:
        if self._vectors is None:
            rows = embed_all(self.embedder, [s.text for s in self.sentences])
            self._vectors = rows if len(rows) else np.zeros((0, 0), dtype=np.float32)
        return self._vectors

    def done(self, steps: Sequence[str]) -> dict[int, tuple[str, str]]:
        """Which of a procedure's ``steps`` (by index) a sentence already says: ``(label key, the sentence)``, the
        key ``said`` for the customer, ``asked`` or ``agent`` for an agent's question or statement."""
        if not steps or not self.sentences:
            return {}
        said = self.vectors()
        wanted = self.step_vectors(steps)
        sims = said @ wanted.T  # sentence x step
        nearest = sims.argmax(axis=1)
        ordered = np.sort(sims, axis=1)
        margins = ordered[:, -1] - (ordered[:, -2] if len(steps) > 1 else 0.0)
        found: dict[int, tuple[str, str]] = {}
        for row in np.argsort(-sims.max(axis=1)):
            index = int(nearest[row])
            echo = self.sentences[int(row)]
            floor = ECHO_QUESTION_MIN_COSINE if echo.role == "agent" and echo.asks else ECHO_MIN_COSINE
            if sims[row, index] < floor or margins[row] < ECHO_MIN_MARGIN or index in found:
                continue
            key = "said" if echo.role == "customer" else ("asked" if echo.asks else "agent")
            found[index] = (key, echo.text[:SENTENCE_CHARS])
        return found


def embed_all(embedder: QueryEmbedder, texts: Sequence[str]) -> np.ndarray:
    """Each text's vector, one row each: in one batch when the embedder offers ``embed_queries`` (the knowledge
    service does), else one at a time."""
    batch = getattr(embedder, "embed_queries", None)
    if callable(batch):
        return np.asarray(batch(list(texts)), dtype=np.float32)
    rows = [np.asarray(embedder.embed_query(t), dtype=np.float32) for t in texts]
    return np.vstack(rows) if rows else np.zeros((0, 0), dtype=np.float32)


# --- which steps are done, all evidence weighed together -------------------------------------------------------

DONE_FEATURES = (
    "customer_cosine",  # the step's best cosine with a customer's sentence (none: unknown, see ``DoneModel``)
    "question_cosine",  # ... with an agent's question
    "agent_cosine",  # ... with an agent's statement
    "nearest_customer",  # 1 when a customer's sentence is nearer this step than any other step
    "nearest_question",  # ... an agent's question
    "nearest_agent",  # ... an agent's statement
    "position",  # the step's place in its procedure, 0 (first) to 1 (last)
    "later_done",  # a later step is done by the rules alone (a procedure is followed in order)
    "earlier_open",  # an earlier step is not
    "words",  # the rules' words and identifiers say it is done (``DoneSteps.reason``)
    "words_said",  # ... because a clause says it was done
    "echoed",  # the echoes say it is done (``Echoes.done``)
    "nearest_marked",  # 1 when a sentence nearer this step than any other says something was done ("I already…")
)
DONE_MODEL_PATH = PROMPTS / "models" / "done_steps.json"


@dataclass(frozen=True)
class DoneModel:
    """A logistic model over ``DONE_FEATURES`` (standardised): the probability that a step of a procedure is already
    done, from the rules' findings and the echoes together (fitted by ``evals/_done_fit.py``)."""

    weights: np.ndarray  # bias first
    mean: np.ndarray
    scale: np.ndarray
    threshold: float

    @classmethod
    @cache
    def bundled(cls) -> DoneModel | None:
        if not DONE_MODEL_PATH.exists():
            return None
        data = json.loads(DONE_MODEL_PATH.read_text(encoding="utf-8"))
        if tuple(data["features"]) != DONE_FEATURES:
            return None  # fitted on other features: the rules decide alone
        return cls(
            np.asarray(data["weights"], dtype=np.float64),
            np.asarray(data["mean"], dtype=np.float64),
            np.asarray(data["scale"], dtype=np.float64),
            float(data["threshold"]),
        )

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Each row's probability; an unknown feature (NaN: no sentence of that kind) counts as its mean."""
        standard = np.nan_to_num((features - self.mean) / self.scale, nan=0.0)
        z = self.weights[0] + standard @ self.weights[1:]
        out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return out


def done_features(
    steps: Sequence[str],
    words_found: Sequence[tuple[str, str] | None],
    echoes: Echoes,
    lexicon: Lexicon,
    echoed: Mapping[int, tuple[str, str]] | None = None,
) -> tuple[np.ndarray, dict[int, int]]:
    """``DONE_FEATURES`` for each of a procedure's ``steps`` (rows), given what the rules' words found for each
    (``DoneSteps.reason``) and the conversation's echoes; and, per step, the row of the sentence nearest it (its
    evidence when only the model says it is done). A cosine with no sentence of its kind to measure is NaN: a
    conversation of one customer message is not evidence against every step the agent would have done."""
    n = len(steps)
    echoed = echoes.done(steps) if echoed is None else echoed
    rules = [found is not None or index in echoed for index, found in enumerate(words_found)]
    rows = np.zeros((n, len(DONE_FEATURES)), dtype=np.float64)
    rows[:, :3] = np.nan
    evidence: dict[int, int] = {}
    if echoes.sentences and n:
        sims = (echoes.vectors() @ echoes.step_vectors(steps).T).astype(np.float64)
        nearest = sims.argmax(axis=1)
        roles = [(e.role == "customer", e.role == "agent" and e.asks, e.role == "agent" and not e.asks) for e in
                 echoes.sentences]  # fmt: skip
        kinds = np.array(roles, dtype=bool)  # sentence x (customer, question, statement)
        marked = np.array([not e.asks and _marks_done(e.text, lexicon) for e in echoes.sentences], dtype=bool)
        for index in range(n):
            column = sims[:, index]
            own = nearest == index
            for k in range(3):
                mask = kinds[:, k]
                if mask.any():
                    rows[index, k] = column[mask].max()
                rows[index, 3 + k] = float((mask & own).any())
            rows[index, 12] = float((marked & own).any())
            evidence[index] = int(column.argmax())
    for index in range(n):
        found = words_found[index]
        rows[index, 6] = index / max(1, n - 1)
        rows[index, 7] = float(any(rules[index + 1 :]))
        rows[index, 8] = float(not all(rules[:index]))
        rows[index, 9] = float(found is not None)
        rows[index, 10] = float(found is not None and found[0] == "said")
        rows[index, 11] = float(index in echoed)
    return rows, evidence


def _marks_done(sentence: str, lexicon: Lexicon) -> bool:
    """Whether a clause of ``sentence`` says something was done (a done marker, not negated)."""
    return any(_says_done(c, lexicon) for c in _clauses(words(sentence, pauses=True), lexicon.clause_breaks))


def stated_done(
    words_found: Sequence[tuple[str, str] | None], echoed: Mapping[int, tuple[str, str]], lexicon: Lexicon
) -> dict[int, tuple[str, str]]:
    """The steps (by index) the conversation says were done, before any weighing: what the rules' words and
    identifiers find, and a customer's sentence that echoes a step and says it was done ("Ho provato un'altra presa
    a muro": the words' finding in another language or in other words)."""
    chosen = {i: found for i, found in enumerate(words_found) if found is not None}
    chosen |= {
        i: found
        for i, found in echoed.items()
        if i not in chosen and found[0] == "said" and _marks_done(found[1], lexicon)
    }
    return chosen


def weighed_done(steps: Sequence[str], done: DoneSteps, echoes: Echoes, model: DoneModel) -> dict[int, tuple[str, str]]:
    """The steps (by index) already done, each with why: what the rules' words and identifiers find, and the steps
    the model finds (``DoneModel``: the echoes, the words and the steps' order weighed together). A step the model
    finds is labelled with the sentence that echoes it when one does (said, asked, done by the agent), else
    ``likely`` with the conversation's sentence nearest it. The words stay: a step a customer says they did is done,
    however early in the conversation (fitted to decide, the model would also take some back; on development that
    traded too evenly, docs/evaluation.md, Next steps, session 17). An echo alone is evidence, not a finding: a
    customer stating the problem is near the step that handles it (session 18, leave-one-author-out over four
    development authors: at the shipped threshold 148 done steps found and 25 next ones taken as done, against 148
    and 27 with every echo a finding at session 17's threshold)."""
    words_found = [done.reason(step) for step in steps]
    echoed = echoes.done(steps)
    features, evidence = done_features(steps, words_found, echoes, done.lexicon, echoed)
    chosen = stated_done(words_found, echoed, done.lexicon)
    for index, probability in enumerate(model.probabilities(features)):
        if index in chosen or probability < model.threshold:
            continue
        if index in echoed:
            chosen[index] = echoed[index]
        elif index in evidence:
            # Weighed, not read in one sentence: said as such, with the sentence nearest the step.
            chosen[index] = ("likely", echoes.sentences[evidence[index]].text[:SENTENCE_CHARS])
    return chosen
