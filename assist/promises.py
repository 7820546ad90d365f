"""Promises and timeframes, read one way for the tone check and for the supervisor flags.

A timeframe ("within 3–5 business days", "entro 48 ore", "w ciągu dwóch dni", "en media hora") is parsed into a
``Frame``; a frame, "today" or "tomorrow" gives a promise its deadline. The tone check compares the timeframe a
draft promises with the one the policies state (``policy_frames``); the flags look for an agent's promise to call
or write back (``callback_promise``) and for the customer saying it never came (``not_kept``). The words live in
``prompts/banks/promises/<lang>.toml``; every supported language's bank is read, since a knowledge base is often
in English only and a conversation may mix languages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache, lru_cache
from typing import Any

from assist.text import compile_folded, fold, fold_pattern, sentence_spans
from prompts import SUPPORTED_LANGUAGES, load_bank

__all__ = [
    "Frame",
    "PromiseBank",
    "callback_promise",
    "clauses",
    "not_kept",
    "parse_frame",
    "policy_frames",
    "promise_bank",
    "render_frame",
    "time_promises",
]

BANK = "promises"
UNITS = ("minutes", "hours", "days", "bdays", "weeks")
DAYS_PER_UNIT = {"minutes": 1 / 1440, "hours": 1 / 24, "days": 1.0, "bdays": 1.0, "weeks": 7.0}
_AS_WRITTEN = re.IGNORECASE | re.MULTILINE


@dataclass(frozen=True)
class Frame:
    """A timeframe: ``low`` (to ``high``) ``unit``; ``days`` is its lower bound, ``most`` its upper bound."""

    low: float
    high: float | None
    unit: str

    @property
    def days(self) -> float:
        return self.low * DAYS_PER_UNIT[self.unit]

    @property
    def most(self) -> float:
        return (self.high or self.low) * DAYS_PER_UNIT[self.unit]

    def due(self, start: datetime) -> datetime:
        """When a promise made at ``start`` with this timeframe falls due (business days skip weekends)."""
        if self.unit == "bdays":
            return _add_workdays(start, math.ceil(self.high or self.low))
        return start + timedelta(days=self.most)


@dataclass(frozen=True)
class PromiseBank:
    language: str
    future: re.Pattern[str]  # as written: Italian and Spanish futures are told apart by their accents
    clause_break: re.Pattern[str]  # as written
    topics: Mapping[str, re.Pattern[str]]  # as written
    callback: tuple[re.Pattern[str], ...]  # the rest on folded text
    today: tuple[re.Pattern[str], ...]
    tomorrow: tuple[re.Pattern[str], ...]
    duration: re.Pattern[str]
    not_kept: tuple[re.Pattern[str], ...]
    numbers: Mapping[str, float]
    within: str
    soon: str
    units: Mapping[str, tuple[str, str]]


def _bank(spec: Mapping[str, Any], language: str) -> PromiseBank:
    numbers = {fold(word): float(value) for word, value in spec["number_words"]}
    number = "(?:\\d+(?:[.,]\\d+)?|" + "|".join(re.escape(w) for w in sorted(numbers, key=len, reverse=True)) + ")"
    return PromiseBank(
        language=language,
        future=re.compile(spec["future"], _AS_WRITTEN),
        clause_break=re.compile(spec["clause_break"], _AS_WRITTEN),
        topics={topic: re.compile(regex, _AS_WRITTEN) for topic, regex in spec["topics"].items()},
        callback=compile_folded(spec["callback"]),
        today=compile_folded(spec["today"]),
        tomorrow=compile_folded(spec["tomorrow"]),
        duration=re.compile(fold_pattern(spec["duration"]).replace("<NUM>", number), re.IGNORECASE),
        not_kept=compile_folded(spec["not_kept"]),
        numbers=numbers,
        within=spec["within"],
        soon=spec["soon"],
        units={unit: (forms[0], forms[1]) for unit, forms in spec["units"].items()},
    )


@cache
def promise_bank(language: str) -> PromiseBank:
    """The promise words of ``language`` (English when it has no bank)."""
    bank = load_bank(BANK, language.strip().lower())
    return _bank(bank, language if language in SUPPORTED_LANGUAGES else "en")


def _all_banks() -> tuple[PromiseBank, ...]:
    return tuple(promise_bank(language) for language in SUPPORTED_LANGUAGES)


# --- timeframes -----------------------------------------------------------------------------------------


def _number(word: str | None, bank: PromiseBank) -> float | None:
    if not word:
        return None
    word = " ".join(word.split())
    if word[:1].isdigit():
        return float(word.replace(",", "."))
    return bank.numbers.get(word)


def parse_frame(m: re.Match[str], bank: PromiseBank, *, default: float | None = None) -> Frame | None:
    """The timeframe a ``duration`` match states; with no number ("within hours"), ``default`` of its unit
    (none when ``default`` is None)."""
    low = _number(m["n"], bank)
    low = default if low is None and not m["n"] else low
    high = _number(m["m"], bank) if m["m"] else None
    unit = next((u for u in UNITS if m[u]), None)
    if low is None or unit is None:
        return None
    return Frame(low, high if high and high > low else None, unit)


def render_frame(frame: Frame, bank: PromiseBank) -> str:
    """``frame`` in the bank's language: "5 business days", "3–5 giorni lavorativi"."""
    singular, plural = bank.units[frame.unit]
    low, high = f"{frame.low:g}", f"{frame.high:g}" if frame.high else ""
    if high:
        return f"{low}–{high} {plural}"
    return f"{low} {singular if frame.low == 1 else plural}"


def clauses(text: str, breaks: re.Pattern[str]) -> Iterator[tuple[int, int]]:
    """The sentences of ``text`` (a semicolon ends one) further cut at the conjunctions in ``breaks``."""
    for s0, s1 in sentence_spans(text, semicolons=True):
        start = s0
        for m in breaks.finditer(text, s0, s1):
            yield start, m.start()
            start = m.end()
        yield start, s1


@lru_cache(maxsize=256)
def policy_frames(policy_texts: tuple[str, ...]) -> dict[str, Frame]:
    """The shortest timeframe the policies state for each promise topic (refund, delivery, replacement).

    Policies may be written in any supported language, so every bank reads them; topics are the same keys in
    every bank.
    """
    found: dict[str, Frame] = {}
    for text in policy_texts:
        folded = fold(text)
        for bank in _all_banks():
            for c0, c1 in clauses(text, bank.clause_break):
                topics = [topic for topic, regex in bank.topics.items() if regex.search(text, c0, c1)]
                for m in bank.duration.finditer(folded, c0, c1) if topics else ():
                    frame = parse_frame(m, bank)
                    for topic in topics:
                        if frame and (topic not in found or frame.days < found[topic].days):
                            found[topic] = frame
    return found


def time_promises(clause: str, bank: PromiseBank) -> Iterator[tuple[int, int, float]]:
    """``(start, end, days)`` of each time a clause promises: today (0), tomorrow (1), or a timeframe (its upper
    bound). A timeframe inside a "today" or "tomorrow" phrase ("in a few minutes") is not counted twice."""
    folded = fold(clause)
    taken: list[tuple[int, int]] = []
    for patterns, days in ((bank.today, 0.0), (bank.tomorrow, 1.0)):
        for pattern in patterns:
            for m in pattern.finditer(folded):
                taken.append(m.span())
                yield m.start(), m.end(), days
    for m in bank.duration.finditer(folded):
        frame = parse_frame(m, bank)
        if frame and not any(a < m.end() and m.start() < b for a, b in taken):
            yield m.start(), m.end(), frame.most


# --- promised calls and replies -------------------------------------------------------------------------


@dataclass(frozen=True)
class Callback:
    """An agent's promise to call or write back: its span in the message and when it falls due (if said)."""

    start: int
    end: int
    due: datetime | None


def _end_of_day(moment: datetime, *, days_after: int = 0) -> datetime:
    day = moment.date() + timedelta(days=days_after)
    return datetime.combine(day, time(23, 59, 59), tzinfo=moment.tzinfo)


def _add_workdays(moment: datetime, days: int) -> datetime:
    result = moment
    while days > 0:
        result += timedelta(days=1)
        days -= result.weekday() < 5
    return result


def _deadline(folded: str, bank: PromiseBank, at: datetime) -> datetime | None:
    """When a promise said in ``folded`` at ``at`` falls due: a timeframe after "within"/"in", else today or
    tomorrow; ``None`` when the sentence gives no time."""
    for m in bank.duration.finditer(folded):
        frame = parse_frame(m, bank, default=1.0) if m["within"] else None
        if frame is not None:
            return frame.due(at)
    if any(p.search(folded) for p in bank.today):
        return _end_of_day(at)
    return _end_of_day(at, days_after=1) if any(p.search(folded) for p in bank.tomorrow) else None


def callback_promise(text: str, *, at: datetime | None) -> Callback | None:
    """The first sentence of an agent message promising to call or write back, in any supported language."""
    for s0, s1 in sentence_spans(text):
        folded = fold(text[s0:s1])
        for bank in _all_banks():
            if any(p.search(folded) for p in bank.callback):
                return Callback(s0, s1, _deadline(folded, bank, at) if at is not None else None)
    return None


def not_kept(text: str) -> tuple[int, int] | None:
    """The span where a customer says a promised call or reply never came, in any supported language."""
    folded = fold(text)
    for bank in _all_banks():
        match = next((m for p in bank.not_kept if (m := p.search(folded))), None)
        if match is not None:
            return match.span()
    return None
