"""Follow-through: what an agent must come back to, and the message to send when it falls due.

Good service is a one-step process for the customer: a promise made at a time is kept ("I'll call you back
tomorrow at 10"), a customer transferred to another team is checked on by the first agent, and a resolved case
gets a follow-up that shows the company cares (sooner and personal for high touch, a survey question alone for
no touch). Promises and transfers are read from the agent's messages by ``assist.promises`` in the team's time
zone; the suggested messages come from ``prompts/banks/follow_ups/<lang>.toml``, in the customer's language and
with their first name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo

from assist.empathy import first_name
from assist.flags import SAME_TURN
from assist.models import ContactLevel, Conversation, FollowUp, FollowUpStatus, Message
from assist.promises import AgentCommitment, read_agent_message
from prompts import load_bank

BANK = "follow_ups"
TRANSFER_CHECK = timedelta(days=1)  # the first agent checks a transferred case the next day
# After a resolution: high touch hears back soon and personally; no touch gets the survey question alone.
AFTER_RESOLUTION: dict[ContactLevel, timedelta] = {
    "high_touch": timedelta(days=1),
    "low_touch": timedelta(days=3),
    "no_touch": timedelta(days=2),
}
EXCERPT_CHARS = 300


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _opening(language: str, name: str | None) -> str:
    bank = load_bank(BANK, language)
    first = first_name(name)
    return str(bank["greeting"].format(name=first) if first else bank["anonymous"])


def promise_message(language: str, name: str | None) -> str:
    return f"{_opening(language, name)} {load_bank(BANK, language)['promise']}…"


def transfer_message(language: str, name: str | None) -> str:
    return f"{_opening(language, name)} {load_bank(BANK, language)['transfer']}"


def resolution_message(language: str, name: str | None, level: ContactLevel, *, survey_link: str | None = None) -> str:
    """The after-resolution message for a contact level, ending with the satisfaction question (or the link to the
    one-click survey, when customers can reach it)."""
    bank = load_bank(BANK, language)
    survey = bank["survey_link"].format(link=survey_link) if survey_link else bank["survey"]
    return f"{_opening(language, name)} {bank['after_resolution'][level]} {survey}"


def after_resolution(
    conversation: Conversation,
    *,
    language: str,
    level: ContactLevel,
    resolved_at: datetime,
    agent: str = "",
    survey_link: str | None = None,
) -> FollowUp:
    """The follow-up of a resolved case, due after its contact level's delay."""
    return FollowUp(
        conversation_id=conversation.id,
        kind="after_resolution",
        due_at=iso(resolved_at + AFTER_RESOLUTION[level]),
        text=resolution_message(language, conversation.customer.name, level, survey_link=survey_link),
        created_from="resolved",
        language=language,
        agent=agent,
    )


def detect_follow_ups(
    conversation: Conversation, *, language: str, tz: tzinfo, now: datetime | None = None
) -> list[FollowUp]:
    """A follow-up for each agent message that promises something at a time or transfers the customer.

    Relative times resolve against the message's ``at`` (``now`` for the latest message when it has none; an
    older message without a time is skipped: its promise cannot be placed). A promise is ``done`` once an agent
    writes again in a later turn before it falls due, ``missed`` once ``now`` is past it without that.
    """
    now = now or datetime.now(UTC)
    agent = _agent(conversation)
    messages = conversation.messages
    found: list[FollowUp] = []
    for index, message in enumerate(messages):
        if message.role != "agent":
            continue
        at = _aware(message.at or (now if index == len(messages) - 1 else None))
        if at is None:
            continue
        commitment = read_agent_message(message.text, at=at, tz=tz, language=language)
        if commitment is None:
            continue
        found.append(_follow_up(conversation, index, commitment, at=at, now=now, language=language, agent=agent))
    return found


def _follow_up(
    conversation: Conversation,
    index: int,
    commitment: AgentCommitment,
    *,
    at: datetime,
    now: datetime,
    language: str,
    agent: str,
) -> FollowUp:
    text = conversation.messages[index].text
    excerpt = text[commitment.start : commitment.end][:EXCERPT_CHARS]
    name = conversation.customer.name
    if commitment.kind == "transfer":
        return FollowUp(
            conversation_id=conversation.id, kind="transfer", due_at=iso(at + TRANSFER_CHECK),
            text=transfer_message(language, name), created_from=excerpt, message_index=index, language=language,
            agent=agent,
        )  # fmt: skip
    assert commitment.due is not None
    due = commitment.due.at
    status = _promise_status(conversation.messages, index, due=due, now=now)
    return FollowUp(
        conversation_id=conversation.id, kind="promise", due_at=iso(due), text=promise_message(language, name),
        status=status, created_from=excerpt, message_index=index, language=language, agent=agent,
    )  # fmt: skip


def _promise_status(messages: Sequence[Message], index: int, *, due: datetime, now: datetime) -> FollowUpStatus:
    """Kept when an agent wrote again in a later turn by the due time; missed when it is past due without that."""
    promised_at = _aware(messages[index].at)
    customer_spoke = False
    for message in messages[index + 1 :]:
        if message.role == "customer":
            customer_spoke = True
            continue
        sent = _aware(message.at)
        if message.role != "agent" or sent is None or promised_at is None:
            continue
        new_turn = customer_spoke or sent - promised_at > SAME_TURN
        if new_turn and sent <= due:
            return "done"
    return "missed" if now > due else "open"


def _aware(moment: datetime | None) -> datetime | None:
    """A message time without a zone is UTC (as the API documents)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _agent(conversation: Conversation) -> str:
    agent = conversation.agent
    return (agent.id or agent.name or "") if agent else ""
