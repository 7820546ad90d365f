"""Request bodies and response models of the HTTP API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from assist.errors import InvalidInput
from assist.language import validate_language
from assist.models import MAX_TEXT_CHARS, Assistance, ContactLevel, Conversation, Passage
from kb_index.documents import MAX_DOCUMENT_CHARS

MAX_BATCH = 1000


def _language(value: str | None) -> str | None:
    try:
        return validate_language(value) if value else None
    except InvalidInput as exc:  # pydantic turns ValueError into a located validation error
        raise ValueError(exc.message) from exc


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentIn(_In):
    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
    title: str = Field(min_length=1, max_length=500)
    text: str = Field(min_length=1, max_length=MAX_DOCUMENT_CHARS)
    format: Literal["markdown", "text", "html"] = "markdown"
    language: str | None = None
    kind: str = Field(default="policy", min_length=1, max_length=40, pattern=r"^[a-z_]+$")
    source: str = Field(default="", max_length=1000)
    metadata: dict[str, Any] = Field(default_factory=dict)

    _check_language = field_validator("language")(_language)

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


class ToneIn(_In):
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    language: str | None = None
    customer_name: str | None = Field(default=None, max_length=200)
    contact_level: ContactLevel | None = None
    conversation: Conversation | None = None

    _check_language = field_validator("language")(_language)


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


class SearchOut(BaseModel):
    results: list[Passage]
    language: str


class FlagsOut(BaseModel):
    items: list[StoredFlag]


class Health(BaseModel):
    status: Literal["ok"]
