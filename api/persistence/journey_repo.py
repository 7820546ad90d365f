"""The case journey: follow-ups (promises, transfers, resolved cases), resolutions and satisfaction surveys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.persistence.database import iso
from api.persistence.tables import FollowUpRow, ResolutionRow, SurveyRow, utcnow
from assist.models import FollowUp


def _aware(moment: datetime) -> datetime:
    """In UTC (SQLite keeps a datetime's clock time and drops its zone: everything stored is UTC)."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(UTC)


def follow_up_json(row: FollowUpRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "kind": row.kind,
        "due_at": iso(row.due_at),
        "text": row.text,
        "status": row.status,
        "created_from": row.created_from,
        "message_index": row.message_index,
        "language": row.language,
        "agent": row.agent,
    }


def _source(follow_up: FollowUp) -> str:
    return "resolved" if follow_up.kind == "after_resolution" else str(follow_up.message_index)


def save_follow_ups(s: Session, follow_ups: Sequence[FollowUp]) -> None:
    """Store each follow-up once per conversation, kind and source message. A stored one keeps its id, and a
    done one stays done (the agent said so); an open one takes the status read now (kept, or missed)."""
    for follow_up in follow_ups:
        source = _source(follow_up)
        row = s.scalar(
            select(FollowUpRow).where(
                FollowUpRow.conversation_id == follow_up.conversation_id,
                FollowUpRow.kind == follow_up.kind,
                FollowUpRow.source == source,
            )
        )
        due = _aware(datetime.fromisoformat(follow_up.due_at.replace("Z", "+00:00")))
        if row is None:
            row = FollowUpRow(
                id=uuid.uuid4().hex, conversation_id=follow_up.conversation_id, kind=follow_up.kind, source=source,
                message_index=follow_up.message_index, due_at=due, text=follow_up.text, status=follow_up.status,
                created_from=follow_up.created_from, language=follow_up.language, agent=follow_up.agent,
            )  # fmt: skip
            try:
                with s.begin_nested():
                    s.add(row)
                continue
            except IntegrityError:  # a concurrent assist of the same conversation stored it first
                continue
        if row.status != "done":
            row.status = follow_up.status
            row.due_at, row.text, row.created_from = due, follow_up.text, follow_up.created_from
        row.agent = follow_up.agent or row.agent


def mark_missed(s: Session, *, now: datetime | None = None) -> None:
    """Open promises past their due time turn missed (a later agent message would have closed them)."""
    s.execute(
        update(FollowUpRow)
        .where(FollowUpRow.status == "open", FollowUpRow.kind == "promise", FollowUpRow.due_at < (now or utcnow()))
        .values(status="missed")
    )


def conversation_follow_ups(s: Session, conversation_id: str) -> list[dict[str, Any]]:
    mark_missed(s)
    rows = s.scalars(
        select(FollowUpRow).where(FollowUpRow.conversation_id == conversation_id).order_by(FollowUpRow.due_at)
    )
    return [follow_up_json(r) for r in rows]


def list_follow_ups(
    s: Session, *, status: str = "", due_before: datetime | None = None, agent: str = "", limit: int = 200
) -> list[dict[str, Any]]:
    mark_missed(s)
    query = select(FollowUpRow)
    if status:
        query = query.where(FollowUpRow.status == status)
    if due_before is not None:
        query = query.where(FollowUpRow.due_at < _aware(due_before))
    if agent:
        query = query.where(FollowUpRow.agent == agent)
    return [follow_up_json(r) for r in s.scalars(query.order_by(FollowUpRow.due_at).limit(limit))]


def get_follow_up(s: Session, follow_up_id: str) -> FollowUpRow | None:
    return s.get(FollowUpRow, follow_up_id)


def mark_done(row: FollowUpRow) -> dict[str, Any]:
    row.status, row.done_at = "done", utcnow()
    return follow_up_json(row)


def resolve(s: Session, conversation_id: str, *, at: datetime, agent: str, source: str) -> bool:
    """Record the resolution (once; a later one moves its time). True when it is new."""
    row = s.get(ResolutionRow, conversation_id)
    if row is None:
        s.add(ResolutionRow(conversation_id=conversation_id, resolved_at=_aware(at), agent=agent, source=source))
        return True
    row.resolved_at, row.source = _aware(at), source
    return False


def resolved_at(s: Session, conversation_id: str) -> str | None:
    row = s.get(ResolutionRow, conversation_id)
    return iso(row.resolved_at) if row is not None else None


def record_survey(s: Session, conversation_id: str, *, score: int, comment: str, agent: str) -> int:
    row = SurveyRow(conversation_id=conversation_id, score=score, comment=comment, agent=agent)
    s.add(row)
    s.flush()
    return row.id
