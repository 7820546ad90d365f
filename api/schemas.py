"""Request bodies and response models of the HTTP API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    JsonValue,
    StringConstraints,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from api.secrets import rsa_public_key
from api.services.tone_gate import DEFAULT_BLOCK_KINDS, EXCERPT_CHARS, known_kinds
from assist.contact_level import ContactRules
from assist.errors import InvalidInput
from assist.language import validate_language
from assist.models import (
    MAX_TEXT_CHARS,
    Assistance,
    ContactLevel,
    Conversation,
    FollowUp,
    Passage,
    ToneIssue,
    ToneReport,
    utc_time,
)
from kb_index.documents import MAX_DOCUMENT_CHARS, MAX_SCOPE_TAGS, SCOPE_KEY, scope_tags

MAX_BATCH = 1000


def _language(value: str | None) -> str | None:
    try:
        return validate_language(value) if value else None
    except InvalidInput as exc:  # pydantic turns ValueError into a located validation error
        raise ValueError(exc.message) from exc


def _in_range(value: datetime) -> datetime:
    utc_time(value)  # ValueError (a 422 naming the field) for a time Python cannot convert to UTC or before 1900
    return value


# A time given to the API: any zone (naive: UTC), answered as given, from 1900 to 9999 in UTC.
Moment = Annotated[datetime, AfterValidator(_in_range)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _scope(tags: list[str]) -> list[str]:
    return list(scope_tags(tags))  # ValueError (a 422 naming the field) for a malformed tag


ScopeTags = Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=MAX_SCOPE_TAGS),
                      AfterValidator(_scope)]  # fmt: skip


class DocumentIn(_In):
    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
    title: str = Field(min_length=1, max_length=500)
    text: str = Field(min_length=1, max_length=MAX_DOCUMENT_CHARS)
    format: Literal["markdown", "text", "html"] = "markdown"
    language: str | None = None
    kind: str = Field(default="policy", min_length=1, max_length=40, pattern=r"^[a-z_]+$")
    source: str = Field(default="", max_length=1000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    # Shared by the document's versions in other languages (default: its id without a language suffix).
    topic: str | None = Field(default=None, min_length=1, max_length=200)
    scope: ScopeTags | None = Field(default=None, description="scope tags: the installations whose knowledge scope "
                                    "names one of them see it (none: only installations that see everything)")  # fmt: skip

    _check_language = field_validator("language")(_language)

    @field_validator("metadata")
    @classmethod
    def _metadata_scope(cls, value: dict[str, Any]) -> dict[str, Any]:
        """A ``scope`` in the metadata (or a file's front matter) is checked and normalised like ``scope``."""
        if SCOPE_KEY not in value:
            return value
        return {**value, SCOPE_KEY: list(scope_tags(value[SCOPE_KEY]))}

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the text is empty")
        return value


class DocumentsIn(_In):
    documents: list[DocumentIn] = Field(min_length=1, max_length=MAX_BATCH)


class ReindexIn(_In):
    mode: Literal["incremental", "full"] = "incremental"


class SearchFilters(_In):
    kind: str | None = None
    document_id: str | None = None
    language: str | None = None

    _check_language = field_validator("language")(_language)


class SearchIn(_In):
    query: str = Field(min_length=1, max_length=5000)
    k: int = Field(default=5, ge=1, le=50)
    language: str | None = None
    filters: SearchFilters | None = None
    conversation_id: str | None = None

    _check_language = field_validator("language")(_language)


class AssistIn(BaseModel):
    conversation: Conversation
    draft: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class ToneGateContext(_In):
    """The reply is about to be sent through a helpdesk's pre-send gate (the Zendesk sidebar's ``ticket.save``)."""

    installation_id: str = Field(min_length=1, max_length=40, description="whose gate applies")
    conversation_id: str = Field(min_length=1, max_length=200)
    agent: str | None = Field(default=None, max_length=200)
    public: bool = Field(default=True, description="a public reply (false: an internal note)")


class ToneIn(_In):
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    language: str | None = None
    customer_name: str | None = Field(default=None, max_length=200)
    contact_level: ContactLevel | None = None
    conversation: Conversation | None = None
    gate: ToneGateContext | None = Field(default=None, description="check against an installation's tone gate")

    _check_language = field_validator("language")(_language)


class ToneGateDecision(BaseModel):
    """Whether the installation's gate holds the reply back, why (each offending issue), and the way out."""

    blocked: bool
    allow_override: bool
    issues: list[ToneIssue] = Field(description="the issues of a blocking kind")
    rewrite: str | None = None
    message: str = Field(description="what the helpdesk shows the agent when the reply is held back")
    event_id: str | None = Field(default=None, description="the 'blocked' event recorded for supervisors")


class ToneOut(ToneReport):
    """A ToneReport, and the gate's decision when the request named one."""

    gate: ToneGateDecision | None = None


class FeedbackIn(_In):
    suggestion_id: str = Field(min_length=1, max_length=40)
    item: Literal["empathy", "next_step", "rewrite"]
    index: int = Field(ge=0, le=100)
    action: Literal["accepted", "edited", "dismissed"]
    final_text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class ReviewIn(_In):
    decision: Literal["confirmed", "dismissed"]
    note: str = Field(default="", max_length=5000)


# --- responses (so that /openapi.json describes every answer the pages and integrations read) --------------


class StoredFlag(BaseModel):
    """A flag as stored for supervisors."""

    id: str
    conversation_id: str
    kind: str
    severity: str
    message: str
    excerpt: str
    status: str
    created_at: str
    note: str = ""
    message_index: int | None = None
    start: int | None = None
    end: int | None = None
    language: str = ""
    contact_level: str = ""
    agent: str = ""
    reviewed_at: str | None = None


class AssistOut(Assistance):
    """An Assistance with its flags as stored (their ids link to the supervisor's queue)."""

    flags: list[StoredFlag]  # type: ignore[assignment]


class StreamAssist(AssistOut):
    """The data of the stream's ``assist`` event: the rules answer, and the parts the LLM is now asked for."""

    pending: list[str] = Field(description="parts a ``part`` event may still improve (empty: none will)")


class StreamPart(BaseModel):
    """The data of a ``part`` event: one part the LLM improved, as the final answer will hold it."""

    part: str = Field(description="empathy, next_steps, rewrite, follow_up or tone_llm")
    items: list[dict[str, JsonValue]]
    engine: Literal["llm"]
    articles: list[dict[str, JsonValue]] | None = Field(
        default=None,
        description="next_steps only: the articles that go with these steps (none when the LLM found no passage "
        "about the customer's problem; the items are then empty too)",
    )


@dataclass(frozen=True)
class JsonText:
    """Documents a string holding JSON of ``model`` (an event's ``data``): ``contentMediaType`` and
    ``contentSchema``, in the response schemas too (pydantic's ``Json[...]`` documents answers as the object)."""

    model: type[BaseModel]

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        content = handler(self.model.__pydantic_core_schema__)
        return {"type": "string", "contentMediaType": "application/json", "contentSchema": content}


class AssistEvent(BaseModel):
    """``event: assist``, first: the rules answer."""

    event: Literal["assist"]
    data: Annotated[str, JsonText(StreamAssist)]


class PartEvent(BaseModel):
    """``event: part``, once per part the LLM improved."""

    event: Literal["part"]
    data: Annotated[str, JsonText(StreamPart)]


class DoneEvent(BaseModel):
    """``event: done``, last: the final Assistance."""

    event: Literal["done"]
    data: Annotated[str, JsonText(AssistOut)]


StreamEvent = Annotated[AssistEvent | PartEvent | DoneEvent, Field(discriminator="event")]


class SearchOut(BaseModel):
    results: list[Passage]
    language: str


class FlagsOut(BaseModel):
    items: list[StoredFlag]


class Health(BaseModel):
    status: Literal["ok"]


# Knowledge


class JobQueued(BaseModel):
    """A job was queued; ``GET /v1/jobs/{job_id}`` follows it."""

    job_id: str


class DocumentsQueued(JobQueued):
    document_ids: list[str]


class JobProgress(BaseModel):
    done: int
    total: int


class DocumentCounts(BaseModel):
    added: int
    updated: int
    skipped: int
    deleted: int


class JobOut(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: JobProgress
    counts: DocumentCounts
    chunk_counts: dict[str, int] = Field(description="chunks added, updated, skipped, deleted; empty until it ran")
    error: str | None
    created_at: str
    finished_at: str | None


class JobsOut(BaseModel):
    items: list[JobOut]


class DocumentSummary(BaseModel):
    """A document as listed (without its text)."""

    id: str
    title: str
    language: str
    kind: str
    version: int
    indexed_at: str
    chunks: int
    format: str
    source: str
    source_modified_at: str
    content_hash: str
    metadata: dict[str, JsonValue]


class DocumentOut(DocumentSummary):
    text: str


class DocumentsOut(BaseModel):
    items: list[DocumentSummary]
    total: int


class KnowledgeGap(BaseModel):
    """Similar questions the knowledge base answered badly, grouped across languages; the newest is ``question``."""

    question: str
    count: int
    language: str
    languages: list[str]
    best_score: float
    last_seen: str
    conversation_id: str | None
    examples: list[str]


class MissingVersion(BaseModel):
    """A topic with no version in a language customers write in: its articles are never offered to them."""

    topic: str
    title: str
    languages: list[str]  # the languages it exists in
    documents: list[str]
    missing: list[str]  # languages customers write in that it lacks, most conversations first
    conversations: int  # conversations seen in those languages


class GapsOut(BaseModel):
    items: list[KnowledgeGap]
    threshold: float
    missing_versions: list[MissingVersion] = Field(default_factory=list)


# Agents


class FeedbackFigures(BaseModel):
    """The feedback on one kind of item in one language: how often each action was taken (an action never taken
    is absent), and the share accepted."""

    item: str
    language: str
    accepted: int = 0
    edited: int = 0
    dismissed: int = 0
    acceptance: float


class FeedbackReport(BaseModel):
    items: list[FeedbackFigures]


class DemoConversation(Conversation):
    """A bundled demo conversation: a Conversation, its title for the picker and an agent's draft to check."""

    title: str
    draft: str | None = None


class DemoConversationsOut(BaseModel):
    items: list[DemoConversation]


# Supervisors


class FlagStats(BaseModel):
    per_day: dict[str, dict[str, int]] = Field(description="flags raised per day (YYYY-MM-DD), per kind")
    reviewed: int
    dismissed: int
    dismissed_share: float | None


class StoredAssist(Assistance):
    """An assistance as it was stored when it was made (its flags as the engine raised them, before storing)."""

    created_at: str


class ConversationOut(BaseModel):
    """A stored conversation, its assists (oldest first) and its flags."""

    conversation: Conversation
    language: str
    contact_level: str
    updated_at: str
    assists: list[StoredAssist]
    flags: list[StoredFlag]


# Helpdesk webhooks: one of these answers, told apart by ``status`` and the keys present.


class HistorySummary(BaseModel):
    """What storing a helpdesk event did to the conversation's history, and what the assessment will see."""

    stored: int
    duplicates: int
    reordered: int
    dropped: int
    messages: int
    complete: bool


class WebhookHeard(BaseModel):
    """A message event: ``accepted`` (202; stored, assessed after the answer) or ``unchanged`` (200)."""

    status: Literal["accepted", "unchanged"]
    conversation_id: str
    history: HistorySummary


class WebhookResolution(BaseModel):
    """A conversation resolved in the helpdesk: ``resolved``, or ``ignored`` when it was never heard of."""

    status: Literal["resolved", "ignored"]
    conversation_id: str


class WebhookIgnored(BaseModel):
    """An event with nothing to assess."""

    status: Literal["ignored"]
    reason: str


class WebhookDuplicate(BaseModel):
    """A delivery taken before: acknowledged, dropped."""

    status: Literal["duplicate"]
    delivery: str


WebhookReceipt = WebhookHeard | WebhookResolution | WebhookIgnored | WebhookDuplicate


# Errors: every 4xx and 5xx answer has this one shape (api/errors.py renders it).


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


# The errors any API route may answer, each in the one shape above (422: FastAPI's own default replaced).
ERROR_STATUSES = (
    (400, "Bad request"),
    (401, "No or wrong API key"),
    (403, "The key's role may not do this"),
    (404, "Not found"),
    (409, "Conflict"),
    (413, "Body too large"),
    (422, "Invalid input: `error.field` names the field"),
    (429, "Past the key's requests per minute: `Retry-After` says when to try again"),
    (502, "The helpdesk did not take a write"),
    (503, "The knowledge base or the LLM is unavailable"),
)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description} for status, description in ERROR_STATUSES
}
# The same for a route whose own answer is not JSON (an event stream, CSV, text): FastAPI would document a
# ``model`` under the route's media type, but errors are always answered as JSON.
JSON_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }
    for status, description in ERROR_STATUSES
}


# --- the case journey -------------------------------------------------------------------------------------


class FollowUpsOut(BaseModel):
    items: list[FollowUp]


class FollowUpDoneIn(BaseModel):
    agent: str | None = Field(default=None, max_length=200, description="the agent marking it (an agent key must)")


class ResolveIn(BaseModel):
    at: Moment | None = Field(default=None, description="when it was resolved (now when absent; not in the future)")


class ResolveOut(BaseModel):
    conversation_id: str
    resolved_at: str
    follow_up: FollowUp


class SurveyIn(BaseModel):
    score: int = Field(ge=1, le=5, description="the customer's satisfaction, 1 (not at all) to 5 (very)")
    comment: str = Field(default="", max_length=2000)


class SurveyOut(BaseModel):
    id: int
    conversation_id: str
    score: int


class SuggestionCounts(BaseModel):
    accepted: int
    edited: int
    dismissed: int


class FlagCounts(BaseModel):
    raised: int
    confirmed: int
    dismissed: int


class FollowUpCounts(BaseModel):
    on_time: int
    late: int
    missed: int
    open: int


class EscalationCounts(BaseModel):
    suggested: int
    taken: int = Field(description="suggested, and the case's tier (from the helpdesk) reached the tier suggested")


class SurveyFigures(BaseModel):
    responses: int
    mean_score: float | None


class ServiceFigures(BaseModel):
    """One agent's, one team's or everyone's figures over the period."""

    conversations: int
    assists: int
    suggestions: SuggestionCounts
    agent_messages: int
    tone_issues_per_100_messages: dict[str, float] = Field(description="issues in the agents' sent messages, by kind")
    tone_issues_per_100_messages_total: float
    flags: FlagCounts
    flags_by_kind: dict[str, int]
    follow_ups: FollowUpCounts
    escalations: EscalationCounts
    first_response_s: float | None = Field(description="median seconds to the first agent reply (messages with `at`)")
    between_responses_s: float | None = Field(description="median seconds from a customer turn to the next reply")
    survey: SurveyFigures


class ServiceReportOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    start: str = Field(alias="from")
    end: str = Field(alias="to")
    all: ServiceFigures
    agents: dict[str, ServiceFigures]
    teams: dict[str, ServiceFigures]


# --- helpdesk installations and write-back -------------------------------------------------------------------

HelpdeskKind = Literal["chatwoot", "zendesk", "zammad"]
_ORIGIN = r"^https?://[A-Za-z0-9.*-]+(?::\d+)?$"


ToneKind = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")]


class ToneGate(_In):
    """An installation's pre-send tone gate: a public reply with an issue of one of ``block_kinds``, or scoring under
    ``min_score``, is held back before it is sent (Zendesk's ``ticket.save``)."""

    block_kinds: list[ToneKind] = Field(default_factory=lambda: list(DEFAULT_BLOCK_KINDS), max_length=40,
                                        description="tone-issue kinds that hold a reply back (empty: none)")  # fmt: skip
    min_score: float | None = Field(default=None, ge=0, le=1, description="hold back a reply scoring under this")
    allow_override: bool = Field(default=True, description="the agent may send a held reply anyway (recorded)")
    public_only: bool = Field(default=True, description="internal notes pass unchecked")

    @field_validator("block_kinds")
    @classmethod
    def _known(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - known_kinds())
        if unknown:
            raise ValueError(f"unknown tone-issue kinds {unknown}: use some of {sorted(known_kinds())}")
        return list(dict.fromkeys(kinds))


class ToneGateOut(BaseModel):
    block_kinds: list[str]
    min_score: float | None = None
    allow_override: bool
    public_only: bool


Origins = list[Annotated[str, StringConstraints(pattern=_ORIGIN)]]


def _rsa_public_key(value: str) -> str:
    rsa_public_key(value)  # ValueError (a 422 naming the field) for anything else
    return value.strip() + "\n"


AppPublicKey = Annotated[str, Field(max_length=10_000), AfterValidator(_rsa_public_key)]
APP_PUBLIC_KEY = ("Zendesk: the app's RSA public key (PEM), to verify the signed app JWT agents sign in with "
                  "(not a secret)")  # fmt: skip


KNOWLEDGE_SCOPE = ("the scope tags of the documents its agents see (documents tagged with one of them); empty: "
                   "every document")  # fmt: skip
CONTACT_RULES = ("its default contact level and rules on the customer's attributes, used when the case does not set "
                 "the level")  # fmt: skip


class InstallationIn(_In):
    kind: HelpdeskKind
    name: str = Field(min_length=1, max_length=200)
    base_url: str = Field(min_length=1, max_length=500, pattern=r"^https?://\S+$", description="the helpdesk's URL")
    api_token: str = Field(default="", max_length=2000, description="encrypted at rest, never answered; "
                           "required but for Zendesk (whose sidebar app writes into the reply box itself)")  # fmt: skip
    webhook_secret: str = Field(min_length=8, max_length=2000, description="encrypted at rest, never answered")
    allowed_origins: Origins = Field(default_factory=list, max_length=20)
    tone_gate: ToneGate = Field(default_factory=ToneGate)
    app_public_key: AppPublicKey | None = Field(default=None, description=APP_PUBLIC_KEY)
    knowledge_scope: ScopeTags = Field(default_factory=list, description=KNOWLEDGE_SCOPE)
    contact_rules: ContactRules = Field(default_factory=ContactRules, description=CONTACT_RULES)


class InstallationPatch(_In):
    """What an admin may change in place (secrets: ``/rotate``)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    allowed_origins: Origins | None = Field(default=None, max_length=20)
    tone_gate: ToneGate | None = None
    app_public_key: AppPublicKey | None = Field(default=None, description=APP_PUBLIC_KEY)
    knowledge_scope: ScopeTags | None = Field(default=None, description=KNOWLEDGE_SCOPE)
    contact_rules: ContactRules | None = Field(default=None, description=CONTACT_RULES)


class InstallationOut(BaseModel):
    """An installation as answered: never a secret."""

    id: str
    kind: HelpdeskKind
    name: str
    base_url: str
    allowed_origins: list[str]
    tone_gate: ToneGateOut
    app_public_key: str | None = Field(default=None, description=APP_PUBLIC_KEY)
    knowledge_scope: list[str] = Field(default_factory=list, description=KNOWLEDGE_SCOPE)
    contact_rules: ContactRules = Field(default_factory=ContactRules, description=CONTACT_RULES)
    created_at: str
    rotated_at: str | None = None


class InstallationsOut(BaseModel):
    items: list[InstallationOut]


class RotateIn(_In):
    api_token: str | None = Field(default=None, min_length=1, max_length=2000)
    webhook_secret: str | None = Field(default=None, min_length=8, max_length=2000)


class NoteIn(_In):
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class NoteOut(BaseModel):
    helpdesk_note_id: str


class HelpdeskContextIn(_In):
    """What a helpdesk's frame told the sidebar (Chatwoot's ``appContext``: unsigned), to be read again server-side."""

    kind: Literal["chatwoot"]
    installation_id: str | None = Field(default=None, max_length=40, description="none: the environment's Chatwoot")
    account_id: str = Field(min_length=1, max_length=40, pattern=r"^\d+$")
    conversation_id: str = Field(min_length=1, max_length=40, pattern=r"^\d+$")


class HelpdeskMessage(BaseModel):
    role: Literal["customer", "agent", "bot"]
    text: str
    at: str | None = None


class HelpdeskContextOut(BaseModel):
    """The conversation as the helpdesk's API gives it to the installation's token (not as the frame posted it)."""

    conversation_id: str
    messages: list[HelpdeskMessage]


class HelpdeskTokenIn(_In):
    """An agent of a Chatwoot or Zammad installation asks for a token for one conversation (no key: Tactful checks
    the agent and the conversation through the helpdesk's API with the installation's token)."""

    installation_id: str = Field(min_length=1, max_length=40)
    conversation_id: str = Field(min_length=1, max_length=40, pattern=r"^\d+$",
                                 description="Chatwoot's conversation (display) id or Zammad's ticket id")  # fmt: skip
    agent_id: str = Field(min_length=1, max_length=40, pattern=r"^\d+$", description="the helpdesk's user id")
    account_id: str | None = Field(default=None, min_length=1, max_length=40, pattern=r"^\d+$",
                                   description="Chatwoot's account (required for Chatwoot)")  # fmt: skip


class TokenAgent(BaseModel):
    id: str
    name: str | None


class AgentTokenOut(BaseModel):
    """A short-lived agent token: ``Authorization: Bearer <token>`` until ``expires_at``; refresh it before then."""

    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: str = Field(description="ISO-8601")
    expires_in: int = Field(description="seconds from now")
    installation_id: str
    conversation_id: str | None = Field(description="the one conversation the token acts on (null: the "
                                        "installation's conversations)")  # fmt: skip
    agent: TokenAgent


# --- the pre-send tone gate's events ----------------------------------------------------------------------------

ToneGateEventKind = Literal["blocked", "overridden", "unreachable"]


class ToneGateEventIn(_In):
    """What happened at a helpdesk's pre-send gate, reported by the sidebar (a retry with the same ``id`` is stored
    once: the sidebar queues what it could not report and sends it when Tactful answers again)."""

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{8,64}$", description="the client's event id")
    kind: ToneGateEventKind
    conversation_id: str = Field(min_length=1, max_length=200)
    installation_id: str | None = Field(default=None, max_length=40)
    agent: str | None = Field(default=None, max_length=200)
    kinds: list[ToneKind] = Field(default_factory=list, max_length=40, description="the tone-issue kinds involved")
    excerpt: str = Field(default="", max_length=EXCERPT_CHARS, description="the offending spans")
    occurred_at: Moment | None = Field(default=None, description="when it happened (default: now)")


class ToneGateEventOut(BaseModel):
    id: str
    kind: ToneGateEventKind
    installation_id: str | None
    conversation_id: str
    agent: str | None
    kinds: list[str]
    excerpt: str
    occurred_at: str
    recorded_at: str


class ToneGateEventsOut(BaseModel):
    items: list[ToneGateEventOut]
