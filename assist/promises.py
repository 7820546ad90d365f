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
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cache, lru_cache
from typing import Any, Literal

from assist.text import compile_folded, fold, fold_pattern, is_question, sentence_spans
from prompts import SUPPORTED_LANGUAGES, load_bank

__all__ = [
    "Due",
    "Frame",
    "PromiseBank",
    "callback_promise",
    "clauses",
    "not_kept",
    "parse_frame",
    "policy_frames",
    "promise_bank",
    "promise_due",
    "read_agent_message",
    "render_frame",
    "time_promises",
    "transfer_span",
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
class Calendar:
    """The words that tell when a promise falls due, whether a sentence commits, and transfers (folded text)."""

    time_of_day: tuple[re.Pattern[str], ...]  # groups h, min (optional), ampm (optional)
    noon: re.Pattern[str]
    weekdays: tuple[re.Pattern[str], ...]  # Monday first
    months: tuple[re.Pattern[str], ...]  # January first, each matched alone to tell which one a date names
    date: tuple[re.Pattern[str], ...]  # groups d and (optional) month
    day_after_tomorrow: re.Pattern[str]
    this_week: re.Pattern[str]
    next_week: re.Pattern[str]
    end_of_day: re.Pattern[str]
    commit: tuple[re.Pattern[str], ...]
    condition: re.Pattern[str]
    request: re.Pattern[str]
    general: re.Pattern[str]
    transfer: tuple[re.Pattern[str], ...]
    handover: tuple[re.Pattern[str], ...]  # a colleague will take it up: a transfer when no time is promised
    transfer_negation: re.Pattern[str]


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
    calendar: Calendar


def _folded(regex: str) -> re.Pattern[str]:
    return re.compile(fold_pattern(regex), re.IGNORECASE)


def _calendar(spec: Mapping[str, Any]) -> Calendar:
    months = "|".join(f"(?:{m})" for m in spec["months"])
    return Calendar(
        time_of_day=compile_folded(spec["time_of_day"]),
        noon=_folded(spec["noon"]),
        weekdays=compile_folded(spec["weekdays"]),
        months=tuple(_folded(f"^(?:{m})$") for m in spec["months"]),
        date=compile_folded(d.replace("<MONTH>", months) for d in spec["date"]),
        day_after_tomorrow=_folded(spec["day_after_tomorrow"]),
        this_week=_folded(spec["this_week"]),
        next_week=_folded(spec["next_week"]),
        end_of_day=_folded(spec["end_of_day"]),
        commit=compile_folded(spec["commit"]),
        condition=_folded(spec["condition"]),
        request=_folded(spec["request"]),
        general=_folded(spec["general"]),
        transfer=compile_folded(spec["transfer"]),
        handover=compile_folded(spec["handover"]),
        transfer_negation=_folded(spec["transfer_negation"]),
    )


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
        calendar=_calendar(spec["calendar"]),
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


# --- when a promise falls due, and transfers ------------------------------------------------------------

END_OF_BUSINESS = time(18, 0)  # a promise for a day with no time of day is kept until then (team's time zone)
EARLIEST_HOUR = 8  # "by 5" in a support team means 17:00: an hour before this, with no am/pm, is the afternoon
FRIDAY = 4
Precision = Literal["time", "day"]


@dataclass(frozen=True)
class Due:
    """A timed promise: its sentence's span in the message, when it falls due (team's time zone), and whether
    the message named a time ("time") or only a day ("day", due at the end of business)."""

    start: int
    end: int
    at: datetime
    precision: Precision


def _banks_for(language: str | None) -> tuple[PromiseBank, ...]:
    if language in SUPPORTED_LANGUAGES:
        return (promise_bank(language),)
    return _all_banks()


def _segments(sentence: str) -> list[tuple[int, int]]:
    """The parts of a sentence between commas, semicolons and dashes (a condition is one of them)."""
    cuts = [m.span() for m in re.finditer(r"\s*(?:[,;]|\s[-–—])\s*", sentence)]
    bounds = [0] + [x for span in cuts for x in span] + [len(sentence)]
    return [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2) if bounds[i + 1] > bounds[i]]


def _day_of(segment: str, cal: Calendar, bank: PromiseBank, today: date, *, us_dates: bool) -> date | None:
    """The day a part of a sentence names: a date, a weekday, tomorrow, this or next week; None if none."""
    for pattern in cal.date:
        for m in pattern.finditer(segment):
            named = m.groupdict().get("month")
            month = next((i + 1 for i, p in enumerate(cal.months) if named and p.match(named)), None)
            found = _calendar_day(int(m["d"]), month, today)
            if found is not None:
                return found
    for m in re.finditer(r"\b(?P<a>\d{1,2})[/.](?P<b>\d{1,2})(?:[/.](?P<y>\d{2,4}))?\b(?![:.]\d)", segment):
        d, mo = (int(m["b"]), int(m["a"])) if us_dates else (int(m["a"]), int(m["b"]))
        if m["y"] is None and "." in m[0] and d <= 23 and mo <= 59:
            continue  # 10.30 is a time of day, not the 10th of a 30th month
        found = _calendar_day(d, mo, today)
        if found is not None:
            return found
    for i, pattern in enumerate(cal.weekdays):
        if pattern.search(segment):
            return today + timedelta(days=(i - today.weekday() - 1) % 7 + 1)
    if cal.day_after_tomorrow.search(segment):
        return today + timedelta(days=2)
    if any(p.search(segment) for p in bank.tomorrow):
        return today + timedelta(days=1)
    if cal.next_week.search(segment):
        return today + timedelta(days=FRIDAY - today.weekday() + 7)
    if cal.this_week.search(segment):
        return today + timedelta(days=(FRIDAY - today.weekday()) % 7)
    if cal.end_of_day.search(segment):
        return today
    return None


def _calendar_day(day: int, month: int | None, today: date) -> date | None:
    """The next date (from today) with this day of the month (and month, when named); None if impossible."""
    for ahead in range(0, 13):
        y, mo = divmod(today.month - 1 + ahead, 12)
        year, m = today.year + y, mo + 1
        if month is not None and m != month:
            continue
        try:
            found = date(year, m, day)
        except ValueError:
            if month is not None:
                return None
            continue
        if found >= today:
            return found
    return None


def _time_of(segment: str, cal: Calendar) -> time | None:
    """The time of day a part of a sentence names; of a range ("between 9:00 and 14:00"), the latest."""
    found = [time(12, 0)] if cal.noon.search(segment) else []
    taken: list[tuple[int, int]] = []
    for pattern in cal.time_of_day:
        for m in pattern.finditer(segment):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            taken.append(m.span())
            hour, minute = int(m["h"]), int(m.groupdict().get("min") or 0)
            ampm = (m.groupdict().get("ampm") or "").replace(".", "").replace(" ", "")
            if ampm == "pm" and hour < 12:
                hour += 12
            elif ampm == "am" and hour == 12:
                hour = 0
            elif not ampm and 0 < hour < EARLIEST_HOUR:
                hour += 12
            if hour <= 23 and minute <= 59:
                found.append(time(hour, minute))
    return max(found) if found else None


def _duration_due(segment: str, bank: PromiseBank, local: datetime) -> tuple[datetime, Precision] | None:
    for m in bank.duration.finditer(segment):
        frame = parse_frame(m, bank, default=1.0) if (m["within"] or m["n"]) else None
        if frame is None:
            continue
        due = frame.due(local)
        return due, ("time" if frame.unit in ("minutes", "hours") else "day")
    return None


def _commits(text: str, bank: PromiseBank, folded: str) -> bool:
    cal = bank.calendar
    return (
        any(p.search(folded) for p in cal.commit)
        or any(p.search(folded) for p in bank.callback)
        or bank.future.search(text) is not None
    )


def promise_due(text: str, *, at: datetime, tz: tzinfo, language: str | None = None) -> Due | None:
    """The first promise in an agent message made for a time, and when it falls due in the team's time zone ``tz``.

    A sentence promises when it commits (a future, "I'll", "ti richiamo", "zadzwonię", a promised reply) and names
    a time: a time of day, a day (a date, a weekday, tomorrow, this or next week: due at the end of business), or
    a duration from ``at``. A question, a condition ("if it has not arrived by Monday"), a request to the customer
    ("please reply by Friday") and a general statement ("refunds usually take 5 days") promise nothing.
    """
    local = at.astimezone(tz)
    us_dates = str(getattr(tz, "key", "")).startswith("America/")
    text = _unquoted(text)
    for s0, s1 in sentence_spans(text):
        sentence = _without_question_tag(text[s0:s1])
        if sentence is None:
            continue
        folded = fold(sentence)
        for bank in _banks_for(language):
            due = _sentence_due(sentence, folded, bank, local, us_dates=us_dates)
            if due is not None:
                return Due(s0, s1, due[0], due[1])
    return None


_QUOTED = re.compile(r"""["“”„«»][^"“”„«»\n]{2,300}["“”„«»]""")
QUESTION_TAG_WORDS = 3


def _unquoted(text: str) -> str:
    """``text`` with quoted words blanked out (same length): a customer's or an old message's words promise nothing."""
    return _QUOTED.sub(lambda m: " " * len(m[0]), text)


def _without_question_tag(sentence: str) -> str | None:
    """A statement with a question tag ("I'll call you at 10, ok?") without its tag; None for a real question."""
    if not is_question(sentence):
        return sentence
    head, comma, tag = sentence.rpartition(",")
    if comma and len(tag.split()) <= QUESTION_TAG_WORDS:
        return head + " " * (len(comma) + len(tag))
    return None


def _sentence_due(
    sentence: str, folded: str, bank: PromiseBank, local: datetime, *, us_dates: bool
) -> tuple[datetime, Precision] | None:
    cal = bank.calendar
    parts = [
        (a, b)
        for a, b in _segments(folded)
        if not (cal.condition.search(folded[a:b]) or cal.general.search(folded[a:b]))
    ]
    if not parts or not _commits(sentence, bank, " ".join(folded[a:b] for a, b in parts)):
        return None
    for a, b in parts:
        segment = folded[a:b]
        if cal.request.search(segment) and not _commits(sentence[a:b], bank, segment):
            continue
        day = _day_of(segment, cal, bank, local.date(), us_dates=us_dates)
        clock = _time_of(segment, cal)
        if day is None and clock is None:
            found = _duration_due(segment, bank, local)
            if found is not None:
                return found
            continue
        if day is None:
            assert clock is not None
            when = datetime.combine(local.date(), clock, tzinfo=local.tzinfo)
            return (when if when > local else when + timedelta(days=1)), "time"
        if clock is None:
            return datetime.combine(day, END_OF_BUSINESS, tzinfo=local.tzinfo), "day"
        return datetime.combine(day, clock, tzinfo=local.tzinfo), "time"
    return None


def transfer_span(text: str, *, language: str | None = None, handover: bool = False) -> tuple[int, int] | None:
    """The sentence of an agent message handing the customer to another team or colleague ("I'm passing you to
    billing", "la passo al reparto tecnico"); not one saying it will not. ``handover``: also a colleague who will
    take the case up ("a colleague from billing will call you")."""
    text = _unquoted(text)
    for s0, s1 in sentence_spans(text):
        folded = fold(text[s0:s1])
        for bank in _banks_for(language):
            cal = bank.calendar
            for pattern in cal.transfer + (cal.handover if handover else ()):
                m = pattern.search(folded)
                if m is not None and not cal.transfer_negation.search(folded[: m.start()]):
                    return s0, s1
    return None


@dataclass(frozen=True)
class AgentCommitment:
    """What an agent message commits to: a transfer (its sentence) or a timed promise (``due``)."""

    kind: Literal["transfer", "promise"]
    start: int
    end: int
    due: Due | None = None


def read_agent_message(text: str, *, at: datetime, tz: tzinfo, language: str | None = None) -> AgentCommitment | None:
    """A transfer ("I'm passing you to billing") first; else a timed promise; else a colleague who will take the
    case up, as a transfer. None when the message commits to neither."""
    span = transfer_span(text, language=language)
    if span is not None:
        return AgentCommitment("transfer", *span)
    due = promise_due(text, at=at, tz=tz, language=language)
    if due is not None:
        return AgentCommitment("promise", due.start, due.end, due)
    span = transfer_span(text, language=language, handover=True)
    return AgentCommitment("transfer", *span) if span is not None else None
