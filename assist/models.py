"""The domain's data: conversations in, assistance out. Field names follow ``../shared/CONTRACT.md``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ContactLevel = Literal["no_touch", "low_touch", "high_touch"]
Grade = Literal["low", "medium", "high"]
Role = Literal["customer", "agent", "bot"]
Severity = Literal["low", "medium", "high"]
Tier = Literal["basic", "intermediate", "advanced"]
EscalationAction = Literal["keep", "escalate", "offer_human", "offer_self_service"]
FollowUpKind = Literal["promise", "transfer", "after_resolution"]
FollowUpStatus = Literal["open", "done", "missed"]
TIERS: tuple[Tier, ...] = ("basic", "intermediate", "advanced")

MAX_TEXT_CHARS = 20_000
MAX_MESSAGES = 500
CLOCK_SKEW = timedelta(minutes=10)  # a message time this far ahead of ours is still accepted (clocks differ)


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=False)


EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)  # times before are typos or fuzz, and near year 1 overflow


def utc_time(value: datetime) -> datetime:
    """``value`` in UTC (a naive time is UTC); ``ValueError`` for a time before 1900 or after 9999 in UTC, which
    time-zone conversions and date arithmetic cannot handle (year 1 at +14:00 is in year 0 in UTC)."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        moment = aware.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is out of range: give a time from 1900 to 9999 in UTC") from None
    if moment < EARLIEST_TIME:
        raise ValueError(f"{value.isoformat()} is before 1900: give a time from 1900 to 9999 in UTC")
    return moment


class Message(_Model):
    role: Role
    text: str = Field(max_length=MAX_TEXT_CHARS)
    at: datetime | None = Field(default=None, description="when it was sent (ISO-8601; UTC when no zone is given)")

    @field_validator("at")
    @classmethod
    def _not_in_the_future(cls, value: datetime | None) -> datetime | None:
        """A message cannot be sent later than now (a few minutes of clock skew between machines aside)."""
        if value is None:
            return value
        aware = utc_time(value)
        if aware > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError("at is in the future: a message's time is when it was sent")
        return value


class Customer(_Model):
    id: str | None = None
    name: str | None = Field(default=None, max_length=200)
    vip: bool = False


class Agent(_Model):
    """The support agent handling the conversation (optional; supervisors filter flags by it)."""

    id: str | None = None
    name: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, description="ISO 639-1: steps meant for the agent come in it")
    team: str | None = Field(
        default=None, max_length=200, description="the agent's team (the service review groups by it)"
    )


class Case(_Model):
    purchase_value: float | None = Field(default=None, ge=0)
    product_complexity: Grade | None = None
    strategic_importance: Grade | None = None
    contact_level: ContactLevel | None = None
    tier: Tier | None = Field(default=None, description="the support tier the case is at now (basic when absent)")


class Conversation(_Model):
    id: str = Field(min_length=1, max_length=200)
    channel: str | None = None
    language: str | None = Field(default=None, description="ISO 639-1 override; detected when absent")
    customer: Customer = Field(default_factory=Customer)
    agent: Agent | None = None
    case: Case = Field(default_factory=Case)
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)

    def customer_texts(self) -> list[str]:
        return [m.text for m in self.messages if m.role == "customer"]

    def agent_texts(self) -> list[str]:
        return [m.text for m in self.messages if m.role == "agent"]


class Passage(BaseModel):
    """A retrieved knowledge-base chunk, as the engine sees it."""

    document_id: str
    chunk_id: str
    title: str
    text: str
    score: float
    relevance: float = 0.0
    language: str = ""
    kind: str = ""
    section: str = ""
    source: str = ""
    indexed_at: str = ""
    topic: str = ""  # shared by a document's versions in other languages
    matched: str = ""  # the unit of ``text`` that matched best (a question, a bullet, a step), if a unit did


# The kinds of knowledge-base document that state what the company promises (a tone check compares promises with
# them; an LLM may only promise what they say). One home for the filter: ``policy_texts``.
POLICY_KINDS = frozenset({"policy", "faq"})


def policy_texts(passages: Sequence[Passage]) -> list[str]:
    """The texts of the passages that are policies or FAQs."""
    return [p.text for p in passages if p.kind in POLICY_KINDS]


class Citation(BaseModel):
    document_id: str
    chunk_id: str
    title: str
    quote: str
    language: str = ""
    section: str = ""
    source: str = ""
    indexed_at: str = ""
    context: str = ""  # the section the quote comes from, so a cited step or question is read with its surroundings


class ContactLevelDecision(BaseModel):
    level: ContactLevel
    source: Literal["override", "inferred"]
    reasons: list[str]
    rules: list[str] = Field(default_factory=list, description="the installation's rules that decided or counted")


class EmpathySuggestion(BaseModel):
    text: str
    trigger: str = ""
    engine: Literal["rules", "llm"] = "rules"
    channel: str = ""  # the channel it was written for (chat, email, phone, sms, social)


class NextStep(BaseModel):
    text: str
    citations: list[Citation]
    language: str = ""
    translated: bool = False
    engine: Literal["rules", "llm"] = "rules"
    channel: str = ""  # the channel it was written for


class DoneStep(BaseModel):
    """A procedure step the conversation already did, shown as done with what shows it ("order number given: …")."""

    text: str
    reason: str
    citations: list[Citation] = Field(default_factory=list)
    language: str = ""


class Article(BaseModel):
    document_id: str
    chunk_id: str
    title: str
    score: float
    language: str = ""
    source: str = ""
    # False when the customer may not read it (no version in their language): shown to the agent, not to send.
    sendable: bool = True
    note: str = ""


class ToneIssue(BaseModel):
    kind: str
    start: int
    end: int
    message: str
    suggestion: str
    dimension: str = ""


LLMToneKind = Literal["sarcasm", "blame", "unkeepable_promise", "condescension"]


class LLMToneFinding(BaseModel):
    """A tone problem in the draft that an LLM saw and the rules did not (stream part ``tone_llm``): its span is
    where ``quote`` occurs in the draft (``draft[start:end] == quote``, character offsets as ``ToneIssue``)."""

    kind: LLMToneKind
    start: int
    end: int
    quote: str
    message: str  # why, for the agent, in the conversation's language
    suggestion: str  # a better wording of the quoted words ("" when the LLM gave none that passed the checks)
    source: Literal["llm"] = "llm"


class ToneDimensions(BaseModel):
    calm: float
    non_sarcastic: float
    personalised: float
    professional: float
    empathetic: float


class ToneReport(BaseModel):
    language: str
    score: float
    dimensions: ToneDimensions
    issues: list[ToneIssue]
    rewrite: str | None = None
    engine: Literal["rules", "llm"] = "rules"


class MessageState(BaseModel):
    index: int
    sentiment: float
    frustration: float
    signals: list[str] = Field(default_factory=list)


class CustomerState(BaseModel):
    sentiment: float
    frustration: float
    trend: Literal["rising", "falling", "steady"] = "steady"
    signals: list[str] = Field(default_factory=list)
    per_message: list[MessageState] = Field(default_factory=list)


class Flag(BaseModel):
    id: str = ""
    conversation_id: str
    kind: str
    severity: Severity
    message: str
    excerpt: str
    status: Literal["open", "confirmed", "dismissed"] = "open"
    created_at: str = ""
    message_index: int | None = None
    start: int | None = None
    end: int | None = None


class MessageTone(BaseModel):
    """The tone issues of an agent message already sent (for supervisors)."""

    index: int
    score: float
    issues: list[ToneIssue]


class Escalation(BaseModel):
    """The support tier the case is at, the one it needs, and what the agent should do about it, with reasons."""

    tier: Tier
    needed: Tier
    action: EscalationAction
    to_tier: Tier | None = None
    reasons: list[str] = Field(default_factory=list)


class FollowUp(BaseModel):
    """Something to come back to: a promise made at a time, a transfer to check, a resolved case to follow up."""

    id: str = ""
    conversation_id: str
    kind: FollowUpKind
    due_at: str
    text: str
    status: FollowUpStatus = "open"
    created_from: str
    message_index: int | None = None
    language: str = ""
    agent: str = ""


class KnowledgeState(BaseModel):
    """Whether the knowledge base was being indexed when the assist was made (it may miss what is not indexed), or
    unavailable (its server cannot be reached: passages come from the copy this process last loaded; ``message``
    says why)."""

    state: Literal["ready", "indexing", "unavailable"] = "ready"
    job_id: str = ""
    done: int = 0
    total: int = 0
    message: str = ""


class Assistance(BaseModel):
    suggestion_id: str
    language: str
    contact_level: ContactLevelDecision
    empathy: list[EmpathySuggestion]
    next_steps: list[NextStep]
    articles: list[Article]
    done_steps: list[DoneStep] = Field(default_factory=list)
    tone: ToneReport | None
    customer: CustomerState
    flags: list[Flag]
    engine: Literal["rules", "llm"] = "rules"
    timings_ms: dict[str, float] = Field(default_factory=dict)
    query: str = ""
    message_tones: list[MessageTone] = Field(default_factory=list)
    # The LLM refinement (assist/refine.py): whether a part fell back to the rules answer, and its call stats.
    degraded: bool = False
    llm: dict[str, Any] = Field(default_factory=dict)
    knowledge: KnowledgeState = Field(default_factory=KnowledgeState)
    escalation: Escalation | None = None
    channel: str = "chat"  # the channel the suggestions were written for
    channel_note: str = ""  # why it is not the conversation's ("unknown channel: written for chat")
    follow_ups: list[FollowUp] = Field(default_factory=list)
    # The LLM's tone judgement of the draft (the stream only): what the rules missed; ``tone`` stays the rules'.
    tone_llm: list[LLMToneFinding] = Field(default_factory=list)
