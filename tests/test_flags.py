"""Supervisor flags from tone reports, the customer state and promises made in the conversation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from assist.customer_state import assess_customer
from assist.flags import RUDENESS_KINDS, raise_flags
from assist.models import ContactLevel, Conversation, CustomerState, Flag, ToneDimensions, ToneIssue, ToneReport

T0 = datetime(2025, 3, 5, 9, 0, tzinfo=UTC)  # a Wednesday
CALM = CustomerState(sentiment=0.2, frustration=0.0)


def conversation(*turns: tuple[Any, ...], conversation_id: str = "c-flags") -> Conversation:
    messages = [{"role": t[0], "text": t[1], "at": t[2] if len(t) > 2 else None} for t in turns]
    return Conversation.model_validate({"id": conversation_id, "messages": messages})


def report(*issues: tuple[str, str, int, int]) -> ToneReport:
    return ToneReport(
        language="en",
        score=0.5,
        dimensions=ToneDimensions(calm=1, non_sarcastic=1, personalised=1, professional=1, empathetic=1),
        issues=[
            ToneIssue(kind=kind, dimension=dim, start=start, end=end, message=f"{kind} here", suggestion="")
            for kind, dim, start, end in issues
        ],
    )


def flags(
    conv: Conversation,
    *,
    level: ContactLevel = "low_touch",
    state: CustomerState = CALM,
    reports: list[tuple[int, ToneReport]] | None = None,
    now: datetime | None = None,
) -> dict[str, Flag]:
    raised = raise_flags(conv, level=level, state=state, agent_reports=reports or [], now=now)
    assert len({f.kind for f in raised}) == len(raised), "at most one flag per kind"
    assert all(f.conversation_id == conv.id and f.id == "" and f.created_at == "" for f in raised)
    return {f.kind: f for f in raised}


def test_calm_conversation_raises_nothing() -> None:
    conv = conversation(
        ("customer", "Hi, how do I change my delivery address?", T0),
        (
            "agent",
            "Hi Ada, you can change it under Orders > Address. I'll check it is saved.",
            T0 + timedelta(minutes=2),
        ),
        ("customer", "Thanks, that worked!", T0 + timedelta(minutes=5)),
    )
    state = assess_customer(conv, language="en")
    assert flags(conv, state=state, reports=[(1, report())], now=T0 + timedelta(days=3)) == {}


def test_sarcasm_from_a_non_sarcastic_issue_with_offsets() -> None:
    text = "Well, obviously you didn't read the manual. Let me check."
    conv = conversation(("customer", "It broke"), ("agent", text))
    flag = flags(conv, reports=[(1, report(("eye_roll", "non_sarcastic", 6, 42)))])["sarcasm"]
    assert flag.excerpt == text[6:42] == "obviously you didn't read the manual"
    assert (flag.message_index, flag.start, flag.end) == (1, 6, 42)
    assert flag.severity == "medium"
    assert flags(conv, level="high_touch", reports=[(1, report(("sarcasm", "", 6, 42)))])["sarcasm"].severity == "high"


def test_rudeness_kinds_and_only_one_flag() -> None:
    conv = conversation(("customer", "Help"), ("agent", "You should have read the terms."), ("agent", "Calm down."))
    reports = [(2, report(("order", "calm", 0, 10))), (1, report(("blame", "professional", 0, 15)))]
    flag = flags(conv, reports=reports)["rudeness"]
    assert (flag.message_index, flag.excerpt, flag.severity) == (1, "You should have", "medium")
    assert "blame" in flag.message
    threat = flags(conv, reports=[(2, report(("threat", "calm", 0, 10)))])["rudeness"]
    assert threat.severity == "high"


def test_tone_issues_outside_the_documented_kinds_raise_nothing() -> None:
    conv = conversation(("customer", "Help"), ("agent", "Per our policy the SLA applies."))
    assert flags(conv, reports=[(1, report(("jargon", "professional", 8, 14), ("too_curt", "empathetic", 0, 5)))]) == {}
    assert {"blame", "order", "shouting", "threat", "condescension"} <= RUDENESS_KINDS


def test_frustration_rising_from_the_trend_in_polish() -> None:
    conv = conversation(
        ("customer", "Dzień dobry, paczka jeszcze nie dotarła."),
        ("agent", "Sprawdzę to."),
        ("customer", "Nadal nic, czekam od dwóch tygodni."),
        ("agent", "Przepraszam."),
        ("customer", "Trzeci raz piszę! To skandal!!!"),
    )
    state = assess_customer(conv, language="pl")
    flag = flags(conv, state=state)["frustration_rising"]
    assert flag.message_index == 4
    assert flag.excerpt == "Trzeci raz piszę! To skandal!!!"
    assert flag.severity == "high"
    assert "rising" in flag.message and "repeat contact" in flag.message


@pytest.mark.parametrize(("frustration", "raised"), [(0.75, True), (0.69, False), (0.3, False)])
def test_frustration_flag_threshold_when_steady(frustration: float, raised: bool) -> None:
    conv = conversation(("customer", "Hm."))
    state = CustomerState(sentiment=-0.5, frustration=frustration, trend="steady")
    assert ("frustration_rising" in flags(conv, state=state)) is raised


def test_escalation_for_a_frustrated_high_touch_customer_only() -> None:
    conv = conversation(("customer", "This is not what I paid for."))
    state = CustomerState(sentiment=-0.5, frustration=0.6)
    flag = flags(conv, level="high_touch", state=state)["escalation_risk"]
    assert (flag.severity, flag.message_index) == ("medium", 0)
    assert "escalation_risk" not in flags(conv, level="low_touch", state=state)


@pytest.mark.parametrize(
    ("text", "phrase", "severity"),
    [
        ("Fine. I will cancel my account then.", "cancel my account", "medium"),
        ("Se non risolvete, passo alla concorrenza.", "passo alla concorrenza", "medium"),
        ("Voy a hablar con mi abogado.", "abogado", "high"),
        ("Sprawę przekażę prawnikowi.", "prawnikowi", "high"),
    ],
)
def test_escalation_from_threats_and_legal_words_points_at_the_phrase(text: str, phrase: str, severity: str) -> None:
    conv = conversation(("customer", "Hello"), ("agent", "Hi"), ("customer", text))
    state = assess_customer(conv, language="en")
    flag = flags(conv, level="low_touch", state=state)["escalation_risk"]
    assert (flag.excerpt, flag.message_index, flag.severity) == (phrase, 2, severity)
    assert text[flag.start : flag.end] == phrase  # type: ignore[misc]


def test_broken_promise_from_timestamps() -> None:
    promise = "I will call you back within 2 hours."
    conv = conversation(
        ("customer", "My router is dead.", T0),
        ("agent", f"Sorry about that. {promise}", T0 + timedelta(minutes=5)),
        ("customer", "Hello?", T0 + timedelta(hours=5)),
    )
    flag = flags(conv)["broken_promise"]
    assert (flag.severity, flag.message_index, flag.excerpt) == ("high", 1, promise)
    assert conv.messages[1].text[flag.start : flag.end] == promise  # type: ignore[misc]
    assert "2025-03-05 11:05 UTC" in flag.message


def test_promise_not_yet_due_is_not_broken() -> None:
    conv = conversation(
        ("customer", "My router is dead.", T0),
        ("agent", "I'll call you back within 2 hours.", T0 + timedelta(minutes=5)),
        ("customer", "Ok, thanks.", T0 + timedelta(minutes=30)),
    )
    assert "broken_promise" not in flags(conv)


def test_promise_kept_by_a_follow_up_in_time() -> None:
    conv = conversation(
        ("agent", "I'll get back to you in 30 minutes.", T0),
        ("customer", "Thanks.", T0 + timedelta(minutes=1)),
        ("agent", "Here is the answer: the part ships today.", T0 + timedelta(minutes=25)),
        ("customer", "Great, thanks!", T0 + timedelta(days=1)),
    )
    assert "broken_promise" not in flags(conv)


def test_a_message_in_the_same_turn_is_not_a_follow_up() -> None:
    conv = conversation(
        ("agent", "I'll get back to you in 30 minutes.", T0),
        ("agent", "Have a nice day!", T0 + timedelta(minutes=1)),
        ("customer", "Still waiting...", T0 + timedelta(hours=3)),
    )
    assert "broken_promise" in flags(conv)


def test_now_counts_as_the_latest_moment() -> None:
    conv = conversation(
        ("customer", "Any news?", T0), ("agent", "Ti richiamo entro un'ora.", T0 + timedelta(minutes=1))
    )
    assert "broken_promise" not in flags(conv)
    assert "broken_promise" not in flags(conv, now=T0 + timedelta(minutes=50))
    assert flags(conv, now=T0 + timedelta(hours=2))["broken_promise"].excerpt == "Ti richiamo entro un'ora."


@pytest.mark.parametrize(
    ("promise", "kept_until", "broken_at"),
    [
        ("I'll email you tomorrow.", timedelta(days=1, hours=12), timedelta(days=2, hours=1)),
        ("La richiamo entro mezz'ora.", timedelta(minutes=29), timedelta(minutes=31)),
        ("Le llamaré en dos horas.", timedelta(hours=1, minutes=59), timedelta(hours=2, minutes=1)),
        ("Oddzwonię w ciągu dwóch godzin.", timedelta(hours=1), timedelta(hours=3)),
        ("Oddzwonię dzisiaj.", timedelta(hours=14), timedelta(hours=15, minutes=1)),
        # Wednesday + 2 business days is Friday; + 3 days reaches Saturday.
        ("We will reply within 2 business days.", timedelta(days=2), timedelta(days=3)),
    ],
)
def test_deadlines_in_every_language(promise: str, kept_until: timedelta, broken_at: timedelta) -> None:
    def conv(later: timedelta) -> Conversation:
        return conversation(("agent", promise, T0), ("customer", "?", T0 + later))

    assert "broken_promise" not in flags(conv(kept_until))
    assert flags(conv(broken_at))["broken_promise"].excerpt == promise


def test_friday_business_days_skip_the_weekend() -> None:
    friday = datetime(2025, 3, 7, 10, 0, tzinfo=UTC)
    promise = "Le responderemos en 2 días hábiles."
    monday = conversation(("agent", promise, friday), ("customer", "?", friday + timedelta(days=3)))
    wednesday = conversation(("agent", promise, friday), ("customer", "?", friday + timedelta(days=5)))
    assert "broken_promise" not in flags(monday)
    assert "broken_promise" in flags(wednesday)


@pytest.mark.parametrize(
    ("promise", "complaint"),
    [
        ("I'll call you back later today.", "Nobody called me."),
        ("La richiamo appena ho notizie.", "Nessuno mi ha richiamato, come al solito."),
        ("Le llamaré mañana sin falta.", "Pues nadie me llamó."),
        ("Oddzwonię do Pana jutro.", "Nikt nie oddzwonił."),
    ],
)
def test_broken_promise_when_the_customer_says_nobody_called(promise: str, complaint: str) -> None:
    conv = conversation(("customer", "Hola"), ("agent", promise), ("customer", complaint))
    flag = flags(conv)["broken_promise"]
    assert (flag.message_index, flag.excerpt, flag.severity) == (1, promise, "high")
    assert "did not happen" in flag.message


def test_customer_says_nobody_called_without_a_promise_in_view() -> None:
    conv = conversation(("customer", "Ayer me dijeron que me llamarían y nadie me llamó."))
    flag = flags(conv)["broken_promise"]
    assert (flag.severity, flag.message_index) == ("medium", 0)
    assert flag.excerpt in {"me dijeron que me llamarían", "nadie me llamó"}


def test_naive_timestamps_are_taken_as_utc() -> None:
    naive = T0.replace(tzinfo=None)
    conv = conversation(
        ("agent", "I'll call you back in 1 hour.", naive), ("customer", "?", naive + timedelta(hours=2))
    )
    assert "broken_promise" in flags(conv, now=T0 + timedelta(hours=3))


def test_a_promise_without_timestamps_or_complaint_is_not_flagged() -> None:
    conv = conversation(("agent", "I'll call you back within 2 hours."), ("customer", "Thanks!"))
    assert "broken_promise" not in flags(conv, now=T0)
