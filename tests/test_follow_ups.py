"""Follow-through: follow-ups for timed promises and transfers read from agent messages, and after a resolution,
each with a message in the customer's language; a missed promise becomes a broken-promise flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from assist.engine import AssistEngine
from assist.follow_ups import AFTER_RESOLUTION, after_resolution, detect_follow_ups
from assist.models import Conversation
from prompts import SUPPORTED_LANGUAGES, load_bank
from tests.factories import StaticRetriever, passages

ROME = ZoneInfo("Europe/Rome")
SENT = datetime(2026, 3, 12, 14, 5, tzinfo=UTC)  # Thursday, 15:05 in Rome


def _conv(messages: list[dict[str, Any]], **fields: Any) -> Conversation:
    base: dict[str, Any] = {"id": "fu-1", "customer": {"name": "Giulia Rossi"}, "agent": {"id": "ag-7"}}
    return Conversation.model_validate({**base, **fields, "messages": messages})


PROMISE = [
    {"role": "customer", "text": "Il pacco non è ancora arrivato.", "at": "2026-03-12T14:00:00Z"},
    {
        "role": "agent",
        "text": "Mi dispiace Giulia. La richiamo domani alle 10:30 con novità.",
        "at": "2026-03-12T14:05:00Z",
    },
]


def test_a_timed_promise_is_a_follow_up_due_then_in_the_customer_language_with_their_name() -> None:
    [follow_up] = detect_follow_ups(_conv(PROMISE), language="it", tz=ROME, now=SENT)
    assert follow_up.kind == "promise" and follow_up.status == "open"
    assert follow_up.due_at == "2026-03-13T09:30:00Z"  # 10:30 in Rome
    assert follow_up.created_from == "La richiamo domani alle 10:30 con novità."
    assert follow_up.text.startswith("Ciao Giulia, come promesso")
    assert (follow_up.message_index, follow_up.agent, follow_up.language) == (1, "ag-7", "it")


def test_a_promise_kept_by_a_later_agent_message_is_done_and_one_past_due_is_missed() -> None:
    kept = [*PROMISE, {"role": "agent", "text": "Buongiorno, ecco le novità.", "at": "2026-03-13T08:00:00Z"}]
    [done] = detect_follow_ups(_conv(kept), language="it", tz=ROME, now=datetime(2026, 3, 14, tzinfo=UTC))
    assert done.status == "done"
    [missed] = detect_follow_ups(_conv(PROMISE), language="it", tz=ROME, now=datetime(2026, 3, 14, tzinfo=UTC))
    assert missed.status == "missed"
    # A message in the same turn right after the promise does not keep it.
    same_turn = [*PROMISE, {"role": "agent", "text": "A domani!", "at": "2026-03-12T14:06:00Z"}]
    [late] = detect_follow_ups(_conv(same_turn), language="it", tz=ROME, now=datetime(2026, 3, 14, tzinfo=UTC))
    assert late.status == "missed"


def test_a_transfer_gets_a_check_the_next_day_and_an_untimed_older_message_is_skipped() -> None:
    messages = [
        {"role": "customer", "text": "I was charged twice for my order."},
        {"role": "agent", "text": "I'll call you tomorrow at 10."},  # no time: cannot be placed
        {"role": "agent", "text": "I'm transferring you to our billing team now.", "at": "2026-03-12T14:05:00Z"},
    ]
    [follow_up] = detect_follow_ups(_conv(messages, customer={"name": "Sam Reed"}), language="en", tz=ROME, now=SENT)
    assert follow_up.kind == "transfer" and follow_up.message_index == 2
    assert follow_up.due_at == "2026-03-13T14:05:00Z"
    assert follow_up.text.startswith("Hi Sam,") and "solved" in follow_up.text


def test_the_latest_message_without_a_time_is_read_at_now() -> None:
    messages = [{"role": "customer", "text": "¿Cuándo llega?"}, {"role": "agent", "text": "Le llamo mañana a las 16h."}]
    [follow_up] = detect_follow_ups(_conv(messages), language="es", tz=ROME, now=SENT)
    assert follow_up.due_at == "2026-03-13T15:00:00Z"


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_after_resolution_follow_ups_by_contact_level_end_with_the_survey_question(language: str) -> None:
    conv = _conv(PROMISE, customer={"name": None})
    bank = load_bank("follow_ups", language)
    due = {}
    for level in ("high_touch", "low_touch", "no_touch"):
        follow_up = after_resolution(conv, language=language, level=level, resolved_at=SENT)
        assert follow_up.kind == "after_resolution" and follow_up.created_from == "resolved"
        assert follow_up.text.startswith(bank["anonymous"]) and follow_up.text.endswith(bank["survey"])
        assert bank["after_resolution"][level] in follow_up.text
        due[level] = datetime.fromisoformat(follow_up.due_at.replace("Z", "+00:00")) - SENT
    assert due == {level: AFTER_RESOLUTION[level] for level in due}
    assert due["high_touch"] < due["no_touch"] < due["low_touch"]
    assert due["high_touch"] == timedelta(days=1)


def test_the_engine_lists_follow_ups_and_flags_a_missed_promise_of_any_kind() -> None:
    messages = [
        {"role": "customer", "text": "When will the technician come?", "at": "2026-03-12T14:00:00Z"},
        {"role": "agent", "text": "The technician will visit you on Monday by 12:00.", "at": "2026-03-12T14:05:00Z"},
        {"role": "customer", "text": "It's Tuesday and nobody came.", "at": "2026-03-17T09:00:00Z"},
    ]
    engine = AssistEngine(StaticRetriever(passages()), timezone=ROME)
    result = engine.assist(_conv(messages), now=datetime(2026, 3, 17, 9, tzinfo=UTC))
    [follow_up] = result.follow_ups
    assert (follow_up.kind, follow_up.status, follow_up.due_at) == ("promise", "missed", "2026-03-16T11:00:00Z")
    broken = [f for f in result.flags if f.kind == "broken_promise"]
    assert len(broken) == 1 and broken[0].message_index == 1
    assert "technician will visit" in broken[0].excerpt


def test_every_language_has_every_follow_up_message() -> None:
    en = load_bank("follow_ups", "en")
    for language in SUPPORTED_LANGUAGES:
        bank = load_bank("follow_ups", language)
        assert set(bank) == set(en) and set(bank["after_resolution"]) == set(AFTER_RESOLUTION), language
        assert "{name}" in bank["greeting"], language
