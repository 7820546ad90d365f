"""How the customer feels, message by message: sentiment, frustration, the cues behind them and the trend.

Sentiment comes from a small per-language lexicon (``prompts/banks/sentiment/<lang>.toml``) with
intensifiers and negation flipping. Frustration adds cues that are searched in every supported language,
because customers mix languages and a short message is easy to misdetect: repeated contact, threats to
leave, legal words, time waited, shouting in capitals and runs of exclamation marks. Text is folded and bank
patterns compiled with ``assist.text``, as everywhere else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from assist.models import Conversation, CustomerState, MessageState
from assist.text import compile_folded, fold
from prompts import SUPPORTED_LANGUAGES, load_bank

BANK = "sentiment"
# What each cue adds to a message's frustration (0..1). Cues are language-independent, so this is policy
# (code), not phrasing (data). The order here is the order of ``signals`` in the output.
SIGNAL_WEIGHTS: dict[str, float] = {
    "repeat_contact": 0.3,
    "threat_to_leave": 0.35,
    "legal": 0.35,
    "long_wait": 0.2,
    "shouting": 0.25,
    "exclamations": 0.15,
    "anger": 0.15,
}
PATTERN_SIGNALS = ("repeat_contact", "threat_to_leave", "legal", "long_wait")
NEGATION_WINDOW = 3
NEGATION_FACTOR = -0.8  # "not good" is negative, but milder than "bad"
INTENSIFIER_BOOST = 1.5
STRONG_WEIGHT = 2.0
SENTIMENT_DAMPING = 4.0  # raw / sqrt(raw² + damping): one plain word ≈ ±0.45, one strong word ≈ ±0.7
NEGATIVITY_TO_FRUSTRATION = 0.6
RECENCY_DECAY = 0.5  # each older message counts half as much as the next one
TREND_THRESHOLD = 0.2

# How upset a customer is, on the 0-1 frustration scale: one home for the thresholds every part reads.
UPSET_FROM = 0.3  # the LLM is told the customer is upset (or sentiment at most -UPSET_FROM)
ACKNOWLEDGE_FROM = 0.4  # a draft that does not acknowledge the customer's feelings gets a tone issue
EMPATHY_FROM = 0.5  # empathy suggestions address the frustration; a high-touch case risks escalation
VERY_FRUSTRATED_FROM = 0.6  # the LLM is told the customer is very frustrated
FLAG_FROM = 0.7  # supervisors are told, even without a rise
SEVERE_FROM = 0.85  # that flag is of high severity
SHOUT_MIN_LETTERS = 10
SHOUT_CAPS_RATIO = 0.6
SHOUT_MIN_WORDS = 3  # or this many all-capital words of SHOUT_WORD_LETTERS letters or more (acronyms are short)
SHOUT_WORD_LETTERS = 4
SHOUT_LONG_WORD = 8  # one all-capital word this long is shouting on its own ("UNACCEPTABLE")

_TOKEN = re.compile(r"\w+n't|\w+")
_EXCLAMATIONS = re.compile(r"!\s*!|[!?]{3,}")
_CLAUSE = re.compile(r"[.,;:!?()\n]+")  # negation does not reach past a clause boundary

Trend = Literal["rising", "falling", "steady"]
Mood = Literal["very frustrated", "upset", "calm", "pleased"]


def mood(state: CustomerState) -> Mood:
    """The customer's mood in words, as an LLM prompt describes it."""
    if state.frustration >= VERY_FRUSTRATED_FROM:
        return "very frustrated"
    if state.frustration >= UPSET_FROM or state.sentiment <= -UPSET_FROM:
        return "upset"
    return "calm" if state.sentiment < UPSET_FROM else "pleased"


@dataclass(frozen=True)
class SignalHit:
    """One frustration cue found in a text, with its character span."""

    signal: str
    start: int
    end: int


@dataclass(frozen=True)
class _Lexicon:
    words: dict[str, float]
    stems: tuple[tuple[str, float], ...]
    intensifiers: frozenset[str]
    negations: frozenset[str]
    neutral: tuple[re.Pattern[str], ...]

    def weight(self, token: str) -> float:
        if token in self.words:
            return self.words[token]
        return next((w for stem, w in self.stems if token.startswith(stem)), 0.0)


def _weighted_entries(bank: dict[str, Any]) -> list[tuple[str, float]]:
    lists = [
        ("positive", 1.0),
        ("strong_positive", STRONG_WEIGHT),
        ("negative", -1.0),
        ("strong_negative", -STRONG_WEIGHT),
    ]
    return [(fold(entry), weight) for key, weight in lists for entry in bank.get(key, [])]


@cache
def _lexicon(language: str) -> _Lexicon:
    bank = load_bank(BANK, language)
    entries = _weighted_entries(bank)
    stems = sorted(((e[:-1], w) for e, w in entries if e.endswith("*")), key=lambda s: -len(s[0]))
    return _Lexicon(
        words={e: w for e, w in entries if not e.endswith("*")},
        stems=tuple(stems),
        intensifiers=frozenset(fold(w) for w in bank.get("intensifiers", [])),
        negations=frozenset(fold(w) for w in bank.get("negations", [])),
        neutral=compile_folded(bank.get("neutral", [])),
    )


@cache
def _cue_patterns() -> dict[str, tuple[re.Pattern[str], ...]]:
    banks = [load_bank(BANK, lang) for lang in SUPPORTED_LANGUAGES]
    return {signal: compile_folded(p for b in banks for p in b.get(signal, [])) for signal in PATTERN_SIGNALS}


def _shouting_hit(text: str) -> SignalHit | None:
    letters = [c for c in text if c.isalpha()]
    capital_words = [m for m in _TOKEN.finditer(text) if _is_shouted(m.group())]
    ratio = sum(c.isupper() for c in letters) / len(letters) if letters else 0.0
    loud = len(letters) >= SHOUT_MIN_LETTERS and ratio >= SHOUT_CAPS_RATIO and len(capital_words) >= 2
    many = len(capital_words) >= SHOUT_MIN_WORDS or any(len(m.group()) >= SHOUT_LONG_WORD for m in capital_words)
    if not (loud or many) or not capital_words:
        return None
    return SignalHit("shouting", capital_words[0].start(), capital_words[-1].end())


def _is_shouted(word: str) -> bool:
    return len(word) >= SHOUT_WORD_LETTERS and word.isalpha() and word.isupper()


def find_signals(text: str) -> list[SignalHit]:
    """Frustration cues in ``text`` (any supported language), first hit per cue, in ``SIGNAL_WEIGHTS`` order."""
    folded = fold(text)
    hits: list[SignalHit] = []
    for signal, patterns in _cue_patterns().items():
        found = [m for p in patterns if (m := p.search(folded))]
        if found:
            first = min(found, key=lambda m: m.start())
            hits.append(SignalHit(signal, first.start(), first.end()))
    if shout := _shouting_hit(text):
        hits.append(shout)
    if bang := _EXCLAMATIONS.search(text):
        hits.append(SignalHit("exclamations", bang.start(), bang.end()))
    return hits


def _clauses(text: str, lexicon: _Lexicon) -> list[list[str]]:
    folded = fold(text)
    for pattern in lexicon.neutral:
        folded = pattern.sub(" ", folded)
    return [_TOKEN.findall(clause) for clause in _CLAUSE.split(folded)]


def _token_score(tokens: Sequence[str], i: int, lexicon: _Lexicon) -> float:
    weight = lexicon.weight(tokens[i])
    if weight and i and tokens[i - 1] in lexicon.intensifiers:
        weight *= INTENSIFIER_BOOST
    if weight and lexicon.negations.intersection(tokens[max(0, i - NEGATION_WINDOW) : i]):
        weight *= NEGATION_FACTOR
    return weight


def _lexical_score(text: str, lexicon: _Lexicon) -> tuple[float, bool]:
    """Raw polarity sum, and whether a strongly negative word was used without negation."""
    clauses = _clauses(text, lexicon)
    scores = [_token_score(tokens, i, lexicon) for tokens in clauses for i in range(len(tokens))]
    return sum(scores), any(s <= -STRONG_WEIGHT for s in scores)


def assess_message(text: str, *, index: int, language: str) -> MessageState:
    """Sentiment (-1..1), frustration (0..1) and cues of one customer message at ``index``."""
    raw, angry = _lexical_score(text, _lexicon(language))
    sentiment = raw / math.sqrt(raw * raw + SENTIMENT_DAMPING)
    found = {hit.signal for hit in find_signals(text)} | ({"anger"} if angry else set())
    signals = [s for s in SIGNAL_WEIGHTS if s in found]
    cues = sum(SIGNAL_WEIGHTS[s] for s in signals)
    frustration = min(1.0, max(0.0, -sentiment) * NEGATIVITY_TO_FRUSTRATION + cues)
    return MessageState(index=index, sentiment=round(sentiment, 3), frustration=round(frustration, 3), signals=signals)


def _recent_weighted(values: Sequence[float]) -> float:
    weights = [RECENCY_DECAY ** (len(values) - 1 - i) for i in range(len(values))]
    return sum(v * w for v, w in zip(values, weights, strict=True)) / sum(weights)


def _trend(frustrations: Sequence[float]) -> Trend:
    if len(frustrations) < 2:
        return "steady"
    earlier = frustrations[:-1]
    delta = frustrations[-1] - sum(earlier) / len(earlier)
    if delta >= TREND_THRESHOLD:
        return "rising"
    return "falling" if delta <= -TREND_THRESHOLD else "steady"


def assess_customer(conversation: Conversation, *, language: str) -> CustomerState:
    """The customer's state: per-message scores, overall scores weighted towards the latest, cues and trend.

    ``per_message`` indexes are positions in ``conversation.messages``; only customer messages are scored.
    """
    states = [
        assess_message(m.text, index=i, language=language)
        for i, m in enumerate(conversation.messages)
        if m.role == "customer"
    ]
    if not states:
        return CustomerState(sentiment=0.0, frustration=0.0)
    frustrations = [s.frustration for s in states]
    seen = {signal for s in states for signal in s.signals}
    return CustomerState(
        sentiment=round(_recent_weighted([s.sentiment for s in states]), 3),
        frustration=round(_recent_weighted(frustrations), 3),
        trend=_trend(frustrations),
        signals=[s for s in SIGNAL_WEIGHTS if s in seen],
        per_message=states,
    )
