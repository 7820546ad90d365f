"""Supervisor flags: sarcasm, rudeness, rising frustration, escalation risk and broken promises.

Flags are raised from the agent's tone reports (computed by the engine with ``check_tone``), the customer
state and the conversation itself. Promises and their deadlines are read by ``assist.promises``
(``prompts/banks/promises/<lang>.toml``) in every supported language, since flags are language-agnostic and
the conversation's language is not passed in. At most one flag per kind per call; the store fills ``id`` and
``created_at`` and dedups across calls. Flag messages are in English: they are read by supervisors, not customers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from assist.customer_state import EMPATHY_FROM, FLAG_FROM, SEVERE_FROM, find_signals
from assist.models import (
    ContactLevel,
    Conversation,
    CustomerState,
    Flag,
    FollowUp,
    MessageState,
    Severity,
    ToneIssue,
    ToneReport,
)
from assist.promises import callback_promise, not_kept

# Tone issues that make a sarcasm flag: any issue scored on the non_sarcastic dimension, or of these kinds.
SARCASM_DIMENSION = "non_sarcastic"
SARCASM_KINDS = frozenset({"sarcasm", "irony"})
# Tone issue kinds that make a rudeness flag (the kinds `check_tone` emits for blaming, ordering about,
# capitals, threats, talking down and judgemental wording); a threat is always high severity.
RUDENESS_KINDS = frozenset({"blame", "order", "shouting", "threat", "condescension", "aggressive"})
SEVERE_RUDENESS_KINDS = frozenset({"threat"})
FRUSTRATION_FLAG_FROM = FLAG_FROM
FRUSTRATION_HIGH_FROM = SEVERE_FROM
FRUSTRATION_MEDIUM_FROM = EMPATHY_FROM
ESCALATION_FRUSTRATION_FROM = EMPATHY_FROM
# Agent messages this close to a promise, with no customer message between, are the same turn, not a follow-up.
SAME_TURN = timedelta(minutes=5)
EXCERPT_CHARS = 280
_SEVERITY_RANK: dict[Severity, int] = {"low": 0, "medium": 1, "high": 2}


@dataclass(frozen=True)
class _Span:
    index: int
    start: int
    end: int


@dataclass(frozen=True)
class _Promise:
    span: _Span
    deadline: datetime | None


# --- building flags -------------------------------------------------------------------------------


def _excerpt(conversation: Conversation, span: _Span | None) -> str:
    if span is None or not 0 <= span.index < len(conversation.messages):
        return ""
    text = conversation.messages[span.index].text
    start, end = max(0, span.start), min(len(text), span.end)
    excerpt = text[start:end] if start < end else text
    return excerpt[:EXCERPT_CHARS]


def _flag(conversation: Conversation, kind: str, severity: Severity, message: str, span: _Span | None) -> Flag:
    return Flag(
        conversation_id=conversation.id,
        kind=kind,
        severity=severity,
        message=message,
        excerpt=_excerpt(conversation, span),
        message_index=span.index if span else None,
        start=span.start if span else None,
        end=span.end if span else None,
    )


def _whole(conversation: Conversation, index: int) -> _Span:
    return _Span(index, 0, len(conversation.messages[index].text))


# --- agent tone -----------------------------------------------------------------------------------


def _is_sarcasm(issue: ToneIssue) -> bool:
    return issue.dimension == SARCASM_DIMENSION or issue.kind in SARCASM_KINDS


def _first_issue(
    agent_reports: Sequence[tuple[int, ToneReport]], *, wanted: frozenset[str] | None
) -> tuple[int, ToneIssue] | None:
    """The first issue in message order that is sarcasm (``wanted`` None) or of a ``wanted`` kind."""
    for index, report in sorted(agent_reports, key=lambda r: r[0]):
        for issue in report.issues:
            if (issue.kind in wanted) if wanted is not None else _is_sarcasm(issue):
                return index, issue
    return None


def _sarcasm_flag(
    conversation: Conversation, level: ContactLevel, agent_reports: Sequence[tuple[int, ToneReport]]
) -> Flag | None:
    found = _first_issue(agent_reports, wanted=None)
    if found is None:
        return None
    index, issue = found
    severity: Severity = "high" if level == "high_touch" else "medium"
    message = f"Agent reply may read as sarcastic: {issue.message}"
    return _flag(conversation, "sarcasm", severity, message, _Span(index, issue.start, issue.end))


def _rudeness_flag(
    conversation: Conversation, level: ContactLevel, agent_reports: Sequence[tuple[int, ToneReport]]
) -> Flag | None:
    found = _first_issue(agent_reports, wanted=RUDENESS_KINDS)
    if found is None:
        return None
    index, issue = found
    severe = level == "high_touch" or issue.kind in SEVERE_RUDENESS_KINDS
    message = f"Agent reply may come across as rude ({issue.kind}): {issue.message}"
    return _flag(
        conversation, "rudeness", "high" if severe else "medium", message, _Span(index, issue.start, issue.end)
    )


# --- customer state -------------------------------------------------------------------------------


def _most_frustrated(conversation: Conversation, state: CustomerState) -> _Span | None:
    """The customer message with the highest frustration (the latest on ties), whole."""
    scored = [m for m in state.per_message if 0 <= m.index < len(conversation.messages)]
    if scored:
        best: MessageState = max(reversed(scored), key=lambda m: m.frustration)
        return _whole(conversation, best.index)
    customer = [i for i, m in enumerate(conversation.messages) if m.role == "customer"]
    return _whole(conversation, customer[-1]) if customer else None


def _frustration_severity(frustration: float) -> Severity:
    if frustration >= FRUSTRATION_HIGH_FROM:
        return "high"
    return "medium" if frustration >= FRUSTRATION_MEDIUM_FROM else "low"


def _cues(state: CustomerState) -> str:
    return f" Cues: {', '.join(s.replace('_', ' ') for s in state.signals)}." if state.signals else ""


def _frustration_flag(conversation: Conversation, state: CustomerState) -> Flag | None:
    rising = state.trend == "rising"
    if not rising and state.frustration < FRUSTRATION_FLAG_FROM:
        return None
    if rising and len(state.per_message) >= 2:
        first, last = state.per_message[0].frustration, state.per_message[-1].frustration
        message = f"Customer frustration is rising ({first:.2f} → {last:.2f})."
    else:
        message = f"Customer frustration is high ({state.frustration:.2f})."
    latest = state.per_message[-1].frustration if state.per_message else 0.0
    severity = _frustration_severity(max(state.frustration, latest))
    return _flag(
        conversation, "frustration_rising", severity, message + _cues(state), _most_frustrated(conversation, state)
    )


def _signal_span(conversation: Conversation, signal: str) -> _Span | None:
    """Where the customer last expressed ``signal``."""
    for index in reversed(range(len(conversation.messages))):
        message = conversation.messages[index]
        if message.role != "customer":
            continue
        hit = next((h for h in find_signals(message.text) if h.signal == signal), None)
        if hit is not None:
            return _Span(index, hit.start, hit.end)
    return None


def _escalation_reasons(level: ContactLevel, state: CustomerState) -> list[tuple[str, Severity, str]]:
    """(signal or "", severity, sentence) for each reason to fear an escalation."""
    reasons: list[tuple[str, Severity, str]] = []
    if "legal" in state.signals:
        reasons.append(("legal", "high", "Customer mentions legal action or consumer protection."))
    if "threat_to_leave" in state.signals:
        severity: Severity = "high" if level == "high_touch" else "medium"
        reasons.append(("threat_to_leave", severity, "Customer threatens to leave."))
    if level == "high_touch" and state.frustration >= ESCALATION_FRUSTRATION_FROM:
        severity = "high" if state.frustration >= FRUSTRATION_FLAG_FROM else "medium"
        reasons.append(("", severity, f"High-touch case with a frustrated customer ({state.frustration:.2f})."))
    return reasons


def _escalation_flag(conversation: Conversation, level: ContactLevel, state: CustomerState) -> Flag | None:
    reasons = _escalation_reasons(level, state)
    if not reasons:
        return None
    severity = max((r[1] for r in reasons), key=_SEVERITY_RANK.__getitem__)
    spans = (_signal_span(conversation, signal) for signal, _, _ in reasons if signal)
    span = next((s for s in spans if s is not None), None) or _most_frustrated(conversation, state)
    return _flag(conversation, "escalation_risk", severity, " ".join(r[2] for r in reasons), span)


# --- broken promises ------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _promises(conversation: Conversation) -> list[_Promise]:
    """The first promise in each agent message, in conversation order."""
    found = [(i, callback_promise(m.text, at=m.at)) for i, m in enumerate(conversation.messages) if m.role == "agent"]
    return [_Promise(_Span(i, c.start, c.end), c.due) for i, c in found if c is not None]


def _followed_up_in_time(conversation: Conversation, promise: _Promise, deadline: datetime) -> bool:
    """An agent message after the promise's turn and before the deadline counts as keeping it."""
    promised_at = conversation.messages[promise.span.index].at
    customer_spoke = False
    for message in conversation.messages[promise.span.index + 1 :]:
        customer_spoke = customer_spoke or message.role == "customer"
        if message.role != "agent" or message.at is None or promised_at is None:
            continue
        new_turn = customer_spoke or _utc(message.at) - _utc(promised_at) > SAME_TURN
        if new_turn and _utc(message.at) <= deadline:
            return True
    return False


def _late_evidence(conversation: Conversation, promise: _Promise, now: datetime | None) -> str | None:
    if promise.deadline is None:
        return None
    deadline = _utc(promise.deadline)
    if _followed_up_in_time(conversation, promise, deadline):
        return None
    seen = [_utc(m.at) for m in conversation.messages[promise.span.index + 1 :] if m.at is not None]
    seen += [_utc(now)] if now is not None else []
    if not seen or max(seen) <= deadline:
        return None
    return f"it was due by {_stamp(deadline)} and nothing came in time (the conversation is at {_stamp(max(seen))})"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _not_kept_span(conversation: Conversation, *, after: int) -> _Span | None:
    """The first customer message after ``after`` saying nobody called or wrote back, at that phrase."""
    for index in range(after + 1, len(conversation.messages)):
        message = conversation.messages[index]
        if message.role == "customer" and (span := not_kept(message.text)) is not None:
            return _Span(index, *span)
    return None


def _broken_promise_flag(conversation: Conversation, now: datetime | None) -> Flag | None:
    for promise in _promises(conversation):
        evidence = _late_evidence(conversation, promise, now)
        if evidence is None and (said := _not_kept_span(conversation, after=promise.span.index)) is not None:
            evidence = f"the customer says it did not happen: “{_excerpt(conversation, said)}”"
        if evidence is not None:
            message = f"Agent promised to call back or reply; {evidence}."
            return _flag(conversation, "broken_promise", "high", message, promise.span)
    said = _not_kept_span(conversation, after=-1)
    if said is None:
        return None
    message = "The customer says a promised call or reply never came (no promise found in this conversation)."
    return _flag(conversation, "broken_promise", "medium", message, said)


def missed_promise_flag(conversation: Conversation, follow_up: FollowUp) -> Flag | None:
    """A broken promise read from a promise follow-up that turned missed: any promise made for a time (a visit, a
    refund by a date), not only a call back."""
    index = follow_up.message_index
    if follow_up.kind != "promise" or follow_up.status != "missed" or index is None:
        return None
    text = conversation.messages[index].text
    start = max(text.find(follow_up.created_from), 0)
    span = _Span(index, start, start + len(follow_up.created_from))
    message = f"Agent promised something by {follow_up.due_at}; no agent message came by then."
    return _flag(conversation, "broken_promise", "high", message, span)


# --- public API -----------------------------------------------------------------------------------


def raise_flags(
    conversation: Conversation,
    *,
    level: ContactLevel,
    state: CustomerState,
    agent_reports: Sequence[tuple[int, ToneReport]],
    now: datetime | None = None,
) -> list[Flag]:
    """Flags for a supervisor to review, at most one per kind.

    ``agent_reports`` are (message index, tone report) of the agent's sent messages; ``now`` (if given)
    counts as the latest moment seen when checking whether a promised callback is overdue.
    """
    candidates = (
        _sarcasm_flag(conversation, level, agent_reports),
        _rudeness_flag(conversation, level, agent_reports),
        _frustration_flag(conversation, state),
        _escalation_flag(conversation, level, state),
        _broken_promise_flag(conversation, now),
    )
    return [flag for flag in candidates if flag is not None]
