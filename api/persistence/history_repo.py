"""The messages of conversations heard from helpdesk webhooks: stored once per message id, bounded, forgotten."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.persistence.tables import HistoryConversationRow, HistoryMessageRow, WebhookDeliveryRow, utcnow
from assist.errors import Conflict


@dataclass(frozen=True)
class NewMessage:
    """A message as a helpdesk reports it."""

    message_id: str
    role: str
    text: str
    at: datetime | None = None


@dataclass(frozen=True)
class Added:
    stored: int
    duplicates: int
    reordered: int  # stored before a message already kept (an earlier timestamp arrived later)
    trimmed: int  # older messages deleted to keep the bound


def content_hash(role: str, text: str) -> str:
    return hashlib.sha256(f"{role}\n{text}".encode()).hexdigest()


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes, which are UTC here."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def take_delivery(s: Session, delivery: str, *, source: str) -> bool:
    """Record a webhook delivery id; False when it was taken before (a redelivery)."""
    if s.get(WebhookDeliveryRow, delivery) is not None:
        return False
    # No savepoint: with SQLite's driver a released savepoint outside a begun transaction commits, and the
    # delivery must roll back with the messages when they fail. A concurrent twin raises IntegrityError.
    s.add(WebhookDeliveryRow(id=delivery, source=source))
    s.flush()
    return True


def conversation_state(s: Session, conversation_id: str) -> HistoryConversationRow | None:
    return s.get(HistoryConversationRow, conversation_id)


def ensure_conversation(
    s: Session, conversation_id: str, *, source: str, complete: bool, locator: dict[str, str] | None = None
) -> HistoryConversationRow:
    """The conversation's row, created (with ``complete``) the first time it is heard; ``locator`` kept."""
    row = s.get(HistoryConversationRow, conversation_id)
    if row is not None:
        if locator and row.locator != locator:
            row.locator = dict(locator)
        return row
    try:
        with s.begin_nested():
            row = HistoryConversationRow(
                id=conversation_id, source=source, complete=complete, locator=dict(locator or {})
            )
            s.add(row)
        return row
    except IntegrityError:  # a concurrent delivery of the same new conversation inserted it first
        found = s.get(HistoryConversationRow, conversation_id, populate_existing=True)
        if found is None:
            raise
        return found


def add_messages(s: Session, conversation_id: str, messages: Sequence[NewMessage], *, limit: int) -> Added:
    """Store the messages not yet stored; a message id heard before with other content is a ``Conflict``."""
    known = dict(
        s.execute(
            select(HistoryMessageRow.message_id, HistoryMessageRow.content_hash).where(
                HistoryMessageRow.conversation_id == conversation_id
            )
        ).all()
    )
    latest = aware(
        s.scalar(select(func.max(HistoryMessageRow.at)).where(HistoryMessageRow.conversation_id == conversation_id))
    )
    stored = duplicates = reordered = 0
    for m in messages:
        digest = content_hash(m.role, m.text)
        if m.message_id in known:
            if known[m.message_id] != digest:
                raise Conflict(
                    f"message {m.message_id} of {conversation_id} was heard before with other content",
                    field="id",
                )
            duplicates += 1
            continue
        at = aware(m.at)
        if at is not None and latest is not None and at < latest:
            reordered += 1
        s.add(
            HistoryMessageRow(
                conversation_id=conversation_id, message_id=m.message_id, role=m.role, text=m.text,
                content_hash=digest, at=at,
            )
        )  # fmt: skip
        known[m.message_id] = digest
        if at is not None:
            latest = at if latest is None else max(latest, at)
        stored += 1
    s.flush()
    trimmed = _trim(s, conversation_id, limit=limit)
    row = s.get(HistoryConversationRow, conversation_id)
    if row is not None and stored:
        row.last_message_at = utcnow()
    return Added(stored, duplicates, reordered, trimmed)


def _ordered(conversation_id: str):  # type: ignore[no-untyped-def]
    when = func.coalesce(HistoryMessageRow.at, HistoryMessageRow.received_at)
    return (
        select(HistoryMessageRow)
        .where(HistoryMessageRow.conversation_id == conversation_id)
        .order_by(when.desc(), HistoryMessageRow.id.desc())
    )


def _trim(s: Session, conversation_id: str, *, limit: int) -> int:
    old = s.scalars(_ordered(conversation_id).offset(limit).with_only_columns(HistoryMessageRow.id)).all()
    if old:
        s.execute(delete(HistoryMessageRow).where(HistoryMessageRow.id.in_(list(old))))
    return len(old)


def count_messages(s: Session, conversation_id: str) -> int:
    query = select(func.count()).where(HistoryMessageRow.conversation_id == conversation_id)
    return int(s.scalar(query) or 0)


def load_messages(s: Session, conversation_id: str, *, limit: int) -> list[HistoryMessageRow]:
    """The conversation's last ``limit`` messages, oldest first (by their timestamp, then by arrival)."""
    rows = list(s.scalars(_ordered(conversation_id).limit(limit)).all())
    rows.reverse()
    return rows


def mark_resolved(s: Session, conversation_id: str, *, at: datetime | None = None) -> bool:
    row = s.get(HistoryConversationRow, conversation_id)
    if row is None:
        return False
    row.resolved_at = at or utcnow()
    return True


def reopen(s: Session, conversation_id: str) -> None:
    row = s.get(HistoryConversationRow, conversation_id)
    if row is not None:
        row.resolved_at = None


def purge(s: Session, *, now: datetime, retention: timedelta) -> int:
    """Forget the conversations resolved longer than ``retention`` ago (or silent that long): their messages and
    their row. Returns how many conversations were forgotten."""
    cutoff = now - retention
    ids = list(
        s.scalars(
            select(HistoryConversationRow.id).where(
                or_(
                    HistoryConversationRow.resolved_at < cutoff,
                    and_(HistoryConversationRow.resolved_at.is_(None), HistoryConversationRow.last_message_at < cutoff),
                )
            )
        ).all()
    )
    if ids:
        s.execute(delete(HistoryMessageRow).where(HistoryMessageRow.conversation_id.in_(ids)))
        s.execute(delete(HistoryConversationRow).where(HistoryConversationRow.id.in_(ids)))
    return len(ids)
