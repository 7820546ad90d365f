"""The service's tables: documents, jobs, conversations, assists, flags, feedback, gaps, key/value state, follow-ups,
resolutions, surveys, helpdesk installations and what happened at their tone gates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class DocumentRow(Base):
    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(8), index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    source: Mapped[str] = mapped_column(String(1000), default="")
    source_modified_at: Mapped[str] = mapped_column(String(40), default="")
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    indexed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobRow(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # A queue worker's claim on the job (api/worker.py): who runs it and until when, renewed by a heartbeat; and how
    # many times a worker started it (a worker killed mid-job leaves the lease to expire, and another retries it).
    lease_owner: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class StateRow(Base):
    __tablename__ = "kb_state"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(String(400))


class ConversationRow(Base):
    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    language: Mapped[str] = mapped_column(String(8), default="")
    contact_level: Mapped[str] = mapped_column(String(20), default="")
    agent: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AssistRow(Base):
    __tablename__ = "assists"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(200), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FlagRow(Base):
    __tablename__ = "flags"
    __table_args__ = (UniqueConstraint("conversation_id", "kind", name="uq_flag_conversation_kind"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    severity: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    excerpt: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    message_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    start: Mapped[int | None] = mapped_column(Integer, nullable=True)
    end: Mapped[int | None] = mapped_column(Integer, nullable=True)
    language: Mapped[str] = mapped_column(String(8), default="")
    contact_level: Mapped[str] = mapped_column(String(20), default="")
    agent: Mapped[str] = mapped_column(String(200), default="", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FeedbackRow(Base):
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    suggestion_id: Mapped[str] = mapped_column(String(40), index=True)
    item: Mapped[str] = mapped_column(String(20))
    index: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    final_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    language: Mapped[str] = mapped_column(String(8), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GapRow(Base):
    __tablename__ = "gaps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    question: Mapped[str] = mapped_column(Text)
    normalized: Mapped[str] = mapped_column(String(500), index=True)
    language: Mapped[str] = mapped_column(String(8))
    best_score: Mapped[float] = mapped_column(Float)
    conversation_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The installation whose agent or helpdesk asked (its scope is what could not answer); None: no installation.
    installation_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    vector: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class WebhookDeliveryRow(Base):
    """A webhook delivery already taken (its id is stable across the sender's retries)."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HistoryConversationRow(Base):
    """A conversation heard from a helpdesk's webhooks: whether its history is complete, and when to forget it."""

    __tablename__ = "history_conversations"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_message_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    # What the helpdesk's API needs to find it again (Chatwoot: account and conversation ids; Zammad: the ticket).
    locator: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))


class HistoryMessageRow(Base):
    """One message of a conversation heard from a helpdesk, once per (conversation, helpdesk message id)."""

    __tablename__ = "history_messages"
    __table_args__ = (UniqueConstraint("conversation_id", "message_id", name="uq_history_message"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(200), index=True)
    message_id: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FollowUpRow(Base):
    """Something an agent must come back to: a timed promise, a transfer to check, a resolved case."""

    __tablename__ = "follow_ups"
    __table_args__ = (UniqueConstraint("conversation_id", "kind", "source", name="uq_follow_up_source"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    # What it came from, unique per conversation and kind: the agent message's index, or "resolved".
    source: Mapped[str] = mapped_column(String(40))
    message_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    created_from: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    agent: Mapped[str] = mapped_column(String(200), default="", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ResolutionRow(Base):
    """A conversation marked resolved (by the agent, or by a helpdesk's status event)."""

    __tablename__ = "resolutions"
    conversation_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    resolved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    agent: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(40), default="api")


class SurveyRow(Base):
    """A customer's satisfaction score (1-5) for a conversation."""

    __tablename__ = "surveys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(200), index=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    agent: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class InstallationRow(Base):
    """A helpdesk installation Tactful serves: its kind, address, allowed frame origins and secrets (encrypted)."""

    __tablename__ = "installations"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(500))
    api_token: Mapped[str] = mapped_column(Text)  # encrypted (api/secrets.py)
    webhook_secret: Mapped[str] = mapped_column(Text)  # encrypted
    allowed_origins: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The pre-send tone gate (api/services/tone_gate.py): {} is the default gate.
    tone_gate: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    # Zendesk's app public key (PEM; not a secret): verifies the signed app JWT the sidebar is opened with.
    app_public_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The scope tags of the documents its agents see ([]: every document), and its contact-level rules
    # (assist/contact_level.py ContactRules; {}: none).
    knowledge_scope: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    contact_rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ToneGateEventRow(Base):
    """What happened at a pre-send tone gate: a reply held back, sent anyway, or sent unchecked (Tactful
    unreachable). ``occurred_at`` is when it happened (an unreachable gate is reported later, when Tactful answers)."""

    __tablename__ = "tone_gate_events"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    installation_id: Mapped[str] = mapped_column(String(40), default="", index=True)
    conversation_id: Mapped[str] = mapped_column(String(200), index=True)
    agent: Mapped[str] = mapped_column(String(200), default="", index=True)
    kinds: Mapped[list[Any]] = mapped_column(JSON, default=list)
    excerpt: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
