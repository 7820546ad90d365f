"""Promises and timeframes, one parser for the tone check and the flags, in English, Italian, Spanish and Polish."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assist.promises import (
    Frame,
    callback_promise,
    not_kept,
    policy_frames,
    promise_bank,
    render_frame,
    time_promises,
)
from assist.text import fold
from prompts import SUPPORTED_LANGUAGES, load_bank

MONDAY_NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_bank_compiles_with_the_groups_and_units_the_code_reads(language: str) -> None:
    bank = promise_bank(language)
    assert bank.language == language
    assert {"within", "n", "m", "minutes", "hours", "days", "bdays", "weeks"} <= set(bank.duration.groupindex)
    assert set(bank.units) == set(promise_bank("en").units) == {"minutes", "hours", "days", "bdays", "weeks"}
    assert set(bank.topics) == {"refund", "delivery", "replacement"}
    assert all(value > 0 for value in bank.numbers.values())
    assert "{timeframe}" in load_bank("promises", language)["within"]


@pytest.mark.parametrize(
    ("language", "text", "low", "high", "unit"),
    [
        ("en", "within 3-5 business days", 3, 5, "bdays"),
        ("en", "in half an hour", 0.5, None, "hours"),
        ("it", "entro 48 ore", 48, None, "hours"),
        ("it", "in un paio d'ore", 2, None, "hours"),
        ("it", "entro 3 e 5 giorni lavorativi", 3, 5, "bdays"),
        ("es", "en un plazo de dos semanas", 2, None, "weeks"),
        ("es", "entre 3 y 5 días hábiles", 3, 5, "bdays"),
        ("pl", "w ciągu dwóch dni roboczych", 2, None, "bdays"),
        ("pl", "w ciagu pieciu dni", 5, None, "days"),  # written without diacritics
        ("pl", "za 15 minut", 15, None, "minutes"),
    ],
)
def test_timeframes_are_read_in_every_language(
    language: str, text: str, low: float, high: float | None, unit: str
) -> None:
    [(_, _, days)] = list(time_promises(text, promise_bank(language)))
    assert days == pytest.approx(Frame(low, high, unit).most)


@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "right away"), ("it", "oggi stesso"), ("es", "hoy mismo"), ("pl", "jeszcze dziś")],
)
def test_today_is_an_instant_promise(language: str, text: str) -> None:
    assert [days for _, _, days in time_promises(text, promise_bank(language))] == [0.0]


def test_a_timeframe_inside_a_today_phrase_is_not_counted_twice() -> None:
    assert [days for _, _, days in time_promises("in a few minutes", promise_bank("en"))] == [0.0]


def test_policies_in_any_language_state_the_shortest_timeframe_per_topic() -> None:
    frames = policy_frames(
        (
            "Refunds are issued within 5-10 business days. Delivery takes 2 days.",
            "Il rimborso arriva entro 3 giorni lavorativi.",
        )
    )
    assert frames["refund"] == Frame(3, None, "bdays")
    assert frames["delivery"] == Frame(2, None, "days")
    assert "replacement" not in frames


@pytest.mark.parametrize(
    ("language", "frame", "words"),
    [
        ("en", Frame(3, 5, "bdays"), "3–5 business days"),
        ("it", Frame(1, None, "days"), "1 giorno"),
        ("es", Frame(2, None, "weeks"), "2 semanas"),
        ("pl", Frame(0.5, None, "hours"), "0.5 godzin"),
    ],
)
def test_frames_are_rendered_in_the_bank_language(language: str, frame: Frame, words: str) -> None:
    assert render_frame(frame, promise_bank(language)) == words


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("Thanks. I'll call you back within 2 hours.", datetime(2026, 11, 30, 14, 0, tzinfo=UTC)),
        ("Le richiamo entro 3 giorni lavorativi.", datetime(2026, 12, 3, 12, 0, tzinfo=UTC)),
        ("Le escribiré mañana.", datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)),
        ("Oddzwonię dzisiaj.", datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)),
        ("Odezwiemy się w ciągu godziny.", datetime(2026, 11, 30, 13, 0, tzinfo=UTC)),  # "within the hour": 1 hour
        ("We'll get back to you.", None),
    ],
)
def test_a_callback_promise_gets_its_deadline(text: str, due: datetime | None) -> None:
    found = callback_promise(text, at=MONDAY_NOON)
    assert found is not None
    assert found.due == due


def test_business_days_skip_the_weekend() -> None:
    friday = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    found = callback_promise("I'll email you within 1 business day.", at=friday)
    assert found is not None and found.due == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_a_timeframe_without_within_is_not_a_deadline() -> None:
    found = callback_promise("I'll call you back about the 3 days delay.", at=MONDAY_NOON)
    assert found is not None and found.due is None


def test_no_callback_promise_in_a_plain_answer() -> None:
    assert callback_promise("Your parcel left the depot this morning.", at=MONDAY_NOON) is None


@pytest.mark.parametrize(
    "text",
    [
        "Nobody called me back.",
        "Nessuno mi ha richiamato!",
        "Sigo esperando la llamada.",
        "Nikt do mnie nie oddzwonił.",
        "nikt do mnie nie oddzwonil",
    ],
)
def test_a_customer_saying_nobody_came_back(text: str) -> None:
    span = not_kept(text)
    assert span is not None
    assert fold(text)[span[0] : span[1]].strip()


def test_a_happy_customer_is_not_a_broken_promise() -> None:
    assert not_kept("Thanks, you called me back quickly!") is None
