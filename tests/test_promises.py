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


# --- when a promise falls due, and transfers (follow-ups) -------------------------------------------------

from zoneinfo import ZoneInfo  # noqa: E402

from assist.promises import promise_due, read_agent_message, transfer_span  # noqa: E402

ROME = ZoneInfo("Europe/Rome")
WARSAW = ZoneInfo("Europe/Warsaw")
# Thursday 12 March 2026, 14:05 UTC = 15:05 in Rome and Warsaw.
THURSDAY = datetime(2026, 3, 12, 14, 5, tzinfo=UTC)


def _local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=ROME)


@pytest.mark.parametrize(
    ("language", "text", "due", "precision"),
    [
        ("en", "I'll call you back tomorrow at 10am.", _local(2026, 3, 13, 10), "time"),
        ("en", "We will refund you within 5 business days.", _local(2026, 3, 19, 15, 5), "day"),
        ("en", "I'll email you the invoice by the end of the day.", _local(2026, 3, 12, 18), "day"),
        ("en", "You'll have the replacement by Friday.", _local(2026, 3, 13, 18), "day"),
        ("en", "I will get back to you within 48 hours.", _local(2026, 3, 14, 15, 5), "time"),
        ("en", "Your new router will arrive on 20 March.", _local(2026, 3, 20, 18), "day"),
        ("en", "We'll sort this out by the end of the week.", _local(2026, 3, 13, 18), "day"),
        ("en", "I'll call you at 9:30 on Monday, ok?", _local(2026, 3, 16, 9, 30), "time"),
        ("it", "La richiamo domani alle 10:30.", _local(2026, 3, 13, 10, 30), "time"),
        ("it", "Il tecnico sarà da lei giovedì entro le 12.", _local(2026, 3, 19, 12), "time"),
        ("it", "Riceverà il rimborso entro 5 giorni lavorativi.", _local(2026, 3, 19, 15, 5), "day"),
        ("it", "Ti mando la fattura entro venerdì", _local(2026, 3, 13, 18), "day"),
        ("es", "Le llamo mañana a las 16h.", _local(2026, 3, 13, 16), "time"),
        ("es", "Recibirá la factura antes del viernes.", _local(2026, 3, 13, 18), "day"),
        ("es", "Te escribiremos la próxima semana con la solución.", _local(2026, 3, 20, 18), "day"),
        ("es", "un tecnico te llamara pasado manana entre las 9:00 y las 14:00", _local(2026, 3, 14, 14), "time"),
        ("pl", "Zadzwonię jutro o 14:00.", _local(2026, 3, 13, 14), "time"),
        ("pl", "Kurier przyjedzie w piątek.", _local(2026, 3, 13, 18), "day"),
        ("pl", "odezwiemy sie do konca tygodnia", _local(2026, 3, 13, 18), "day"),
        ("pl", "Zwrot otrzyma Pan w ciągu 3 dni roboczych.", _local(2026, 3, 17, 15, 5), "day"),
    ],
)
def test_a_timed_promise_falls_due_in_the_team_time_zone(
    language: str, text: str, due: datetime, precision: str
) -> None:
    found = promise_due(text, at=THURSDAY, tz=ROME, language=language)
    assert found is not None, text
    assert (found.at, found.precision) == (due, precision)
    assert text[found.start : found.end].strip()


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "If it hasn't arrived by Monday, write to us."),  # a condition
        ("en", "Please reply by Friday with the photos."),  # a request to the customer
        ("en", "Refunds usually take 5-7 business days."),  # a general statement
        ("en", "I'll look into it as soon as possible."),  # no time
        ("en", "Could we call you tomorrow at 10?"),  # a question
        ("en", 'You wrote "I was promised a call by Friday" and I am sorry.'),  # quoted words
        ("en", "I called the courier yesterday at 10am."),  # the past
        ("it", "Se non arriva entro lunedì, ci scriva pure."),
        ("it", "Di solito il rimborso arriva entro 5 giorni lavorativi."),
        ("es", "Por favor, envíenos las fotos antes del jueves."),
        ("es", "Normalmente los reembolsos tardan 5 días hábiles."),
        ("pl", "Jeśli paczka nie dotrze do piątku, prosimy o kontakt."),
        ("pl", "Zazwyczaj zwrot trwa 5 dni roboczych."),
    ],
)
def test_conditions_requests_general_statements_and_questions_promise_nothing(language: str, text: str) -> None:
    assert promise_due(text, at=THURSDAY, tz=ROME, language=language) is None


def test_a_weekday_named_on_that_day_is_next_week_and_zones_move_the_clock() -> None:
    found = promise_due("I'll call you on Thursday.", at=THURSDAY, tz=ROME, language="en")
    assert found is not None and found.at == _local(2026, 3, 19, 18)
    # The same words in Warsaw (same offset) and New York (other offset) are due at 10:00 there.
    for zone in (WARSAW, ZoneInfo("America/New_York")):
        found = promise_due("I'll call you tomorrow at 10.", at=THURSDAY, tz=zone, language="en")
        assert found is not None and found.at == datetime(2026, 3, 13, 10, tzinfo=zone)
        assert found.at.utcoffset() == zone.utcoffset(datetime(2026, 3, 13, 10))


def test_a_time_of_day_already_past_is_tomorrow() -> None:
    found = promise_due("I'll call you at 11.", at=THURSDAY, tz=ROME, language="en")  # 15:05 in Rome
    assert found is not None and found.at == _local(2026, 3, 13, 11)


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "I'm transferring you to our billing team now."),
        ("en", "Let me pass you over to a specialist, one moment."),
        ("it", "La passo subito al reparto tecnico."),
        ("it", "Ho inoltrato la sua pratica al servizio garanzia."),
        ("es", "Le paso con el departamento de facturación."),
        ("es", "Te dejo ahora con una compañera de seguridad."),
        ("pl", "Przełączam Pana do działu reklamacji."),
        ("pl", "Przekazuję rozmowę kierownikowi zmiany."),
    ],
)
def test_transfers_are_read_in_every_language(language: str, text: str) -> None:
    assert transfer_span(text, language=language) == (0, len(text))
    found = read_agent_message(text, at=THURSDAY, tz=ROME, language=language)
    assert found is not None and found.kind == "transfer"


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "I won't transfer you, I can fix it right here."),
        ("it", "Ti passo il link per il reso."),  # "ti passo" + a thing, not a team
        ("es", "Te paso el número de seguimiento."),
        ("pl", "Przekażę informację do magazynu."),
    ],
)
def test_not_a_transfer(language: str, text: str) -> None:
    assert transfer_span(text, language=language) is None


def test_a_colleague_who_will_call_at_a_time_is_a_promise_and_without_a_time_a_transfer() -> None:
    timed = read_agent_message(
        "A colleague from billing will call you within 2 hours.", at=THURSDAY, tz=ROME, language="en"
    )
    assert timed is not None and timed.kind == "promise"
    assert timed.due is not None and timed.due.at == _local(2026, 3, 12, 17, 5)
    untimed = read_agent_message("A colleague from billing will call you.", at=THURSDAY, tz=ROME, language="en")
    assert untimed is not None and untimed.kind == "transfer"


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_calendar_compiles_with_the_groups_the_code_reads(language: str) -> None:
    calendar = promise_bank(language).calendar
    assert len(calendar.weekdays) == 7 and len(calendar.months) == 12
    assert all("h" in p.groupindex for p in calendar.time_of_day)
    assert all("d" in p.groupindex for p in calendar.date)
    assert calendar.transfer and calendar.handover
