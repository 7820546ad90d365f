"""Conversations, their assists and flags (for supervisors), feedback, and knowledge gaps."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.persistence.database import iso
from api.persistence.tables import AssistRow, ConversationRow, FeedbackRow, FlagRow, utcnow
from assist.models import Assistance, Conversation, Flag
from assist.text import normalized


def save_conversation(s: Session, conversation: Conversation, *, language: str, level: str) -> None:
    data = conversation.model_dump(mode="json")
    agent = (conversation.agent.name or conversation.agent.id or "") if conversation.agent else ""
    row = s.get(ConversationRow, conversation.id)
    if row is None:
        try:
            with s.begin_nested():
                s.add(ConversationRow(id=conversation.id, data=data, language=language, contact_level=level,
                                      agent=agent))  # fmt: skip
            return
        except IntegrityError:  # a concurrent assist on the same new conversation inserted it first
            row = s.get(ConversationRow, conversation.id, populate_existing=True)
            if row is None:
                raise
    row.data, row.language, row.contact_level, row.updated_at = data, language, level, utcnow()
    row.agent = agent or row.agent


def save_assist(s: Session, assistance: Assistance, *, conversation_id: str) -> None:
    s.add(
        AssistRow(id=assistance.suggestion_id, conversation_id=conversation_id, data=assistance.model_dump(mode="json"))
    )


def flag_json(row: FlagRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "kind": row.kind,
        "severity": row.severity,
        "message": row.message,
        "excerpt": row.excerpt,
        "status": row.status,
        "created_at": iso(row.created_at),
        "note": row.note,
        "message_index": row.message_index,
        "start": row.start,
        "end": row.end,
        "language": row.language,
        "contact_level": row.contact_level,
        "agent": row.agent,
        "reviewed_at": iso(row.reviewed_at) or None,
    }


def record_flags(s: Session, flags: list[Flag], *, language: str, level: str) -> list[dict[str, Any]]:
    """Store each flag once per conversation and kind; return every flag of those kinds as stored."""
    out = []
    for flag in flags:
        conversation = s.get(ConversationRow, flag.conversation_id)
        row = s.scalar(
            select(FlagRow).where(FlagRow.conversation_id == flag.conversation_id, FlagRow.kind == flag.kind)
        )
        if row is None:
            row = FlagRow(
                id=uuid.uuid4().hex,
                conversation_id=flag.conversation_id,
                kind=flag.kind,
                severity=flag.severity,
                message=flag.message,
                excerpt=flag.excerpt,
                status="open",
                message_index=flag.message_index,
                start=flag.start,
                end=flag.end,
                language=language,
                contact_level=level,
                agent=conversation.agent if conversation else "",
            )
            try:
                with s.begin_nested():
                    s.add(row)
            except IntegrityError:  # raised at the same moment by a concurrent assist
                row = s.scalar(
                    select(FlagRow).where(FlagRow.conversation_id == flag.conversation_id, FlagRow.kind == flag.kind)
                )
                if row is None:
                    raise
        out.append(flag_json(row))
    return out


def list_flags(
    s: Session,
    *,
    status: str = "",
    kind: str = "",
    severity: str = "",
    language: str = "",
    contact_level: str = "",
    agent: str = "",
    limit: int = 200,
) -> list[dict[str, Any]]:
    query = select(FlagRow)
    for column, value in (
        (FlagRow.status, status),
        (FlagRow.kind, kind),
        (FlagRow.severity, severity),
        (FlagRow.language, language),
        (FlagRow.contact_level, contact_level),
        (FlagRow.agent, agent),
    ):
        if value:
            query = query.where(column == value)
    rows = s.scalars(query.order_by(FlagRow.created_at.desc(), FlagRow.id).limit(limit)).all()
    return [flag_json(r) for r in rows]


def review_flag(s: Session, flag_id: str, *, decision: str, note: str) -> dict[str, Any] | None:
    row = s.get(FlagRow, flag_id)
    if row is None:
        return None
    row.status, row.note, row.reviewed_at = decision, note, utcnow()
    return flag_json(row)


def flag_stats(s: Session) -> dict[str, Any]:
    rows = s.execute(select(FlagRow.kind, FlagRow.status, FlagRow.created_at)).all()
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    reviewed = dismissed = 0
    for kind, status, created in rows:
        per_day[iso(created)[:10]][kind] += 1
        reviewed += status != "open"
        dismissed += status == "dismissed"
    return {
        "per_day": {d: dict(k) for d, k in sorted(per_day.items())},
        "reviewed": reviewed,
        "dismissed": dismissed,
        "dismissed_share": round(dismissed / reviewed, 3) if reviewed else None,
    }


def conversation_bundle(s: Session, conversation_id: str) -> dict[str, Any] | None:
    row = s.get(ConversationRow, conversation_id)
    if row is None:
        return None
    assists = s.scalars(
        select(AssistRow).where(AssistRow.conversation_id == conversation_id).order_by(AssistRow.created_at)
    ).all()
    flags = s.scalars(
        select(FlagRow).where(FlagRow.conversation_id == conversation_id).order_by(FlagRow.created_at)
    ).all()
    return {
        "conversation": row.data,
        "language": row.language,
        "contact_level": row.contact_level,
        "updated_at": iso(row.updated_at),
        "assists": [a.data | {"created_at": iso(a.created_at)} for a in assists],
        "flags": [flag_json(f) for f in flags],
    }


def assist_language(s: Session, suggestion_id: str) -> str | None:
    row = s.get(AssistRow, suggestion_id)
    return str(row.data.get("language", "")) if row else None


def save_feedback(
    s: Session, *, suggestion_id: str, item: str, index: int, action: str, final_text: str | None, language: str
) -> None:
    s.add(
        FeedbackRow(
            suggestion_id=suggestion_id, item=item, index=index, action=action, final_text=final_text, language=language
        )
    )


def feedback_report(s: Session) -> list[dict[str, Any]]:
    rows = s.execute(
        select(FeedbackRow.item, FeedbackRow.language, FeedbackRow.action, func.count()).group_by(
            FeedbackRow.item, FeedbackRow.language, FeedbackRow.action
        )
    ).all()
    table: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for item, language, action, n in rows:
        table[(item, language)][action] += int(n)
    return [
        {
            "item": item,
            "language": lang,
            **dict(acts),
            "acceptance": round(acts.get("accepted", 0) / max(1, sum(acts.values())), 3),
        }
        for (item, lang), acts in sorted(table.items())
    ]


def normalize_question(text: str) -> str:
    """The key under which the same question, however cased or accented, groups in the gaps report."""
    return normalized(text)
