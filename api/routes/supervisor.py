"""Supervisors: the flag queue, reviews, conversations."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import ContainerDep, SupervisorRole
from api.persistence import review_repo
from api.schemas import ConversationOut, FlagsOut, FlagStats, ReviewIn, StoredFlag
from assist.errors import NotFound

router = APIRouter(prefix="/v1", tags=["supervisor"])


@router.get("/flags", response_model=FlagsOut)
def list_flags(
    container: ContainerDep,
    _: SupervisorRole,
    status: str = "",
    kind: str = "",
    severity: str = "",
    language: str = "",
    contact_level: str = "",
    agent: str = "",
    limit: int = Query(200, ge=1, le=1000),
) -> FlagsOut:
    with container.db.session() as s:
        items = review_repo.list_flags(
            s,
            status=status,
            kind=kind,
            severity=severity,
            language=language,
            contact_level=contact_level,
            agent=agent,
            limit=limit,
        )
        return FlagsOut.model_validate({"items": items})


@router.get("/flags/stats", response_model=FlagStats)
def flag_stats(container: ContainerDep, _: SupervisorRole) -> FlagStats:
    with container.db.session() as s:
        return FlagStats.model_validate(review_repo.flag_stats(s))


@router.post("/flags/{flag_id}/review", response_model=StoredFlag)
def review_flag(flag_id: str, body: ReviewIn, container: ContainerDep, _: SupervisorRole) -> StoredFlag:
    with container.db.session() as s:
        flag = review_repo.review_flag(s, flag_id, decision=body.decision, note=body.note)
    if flag is None:
        raise NotFound(f"no flag with id {flag_id!r}", field="flag_id")
    return StoredFlag.model_validate(flag)


# Unset: a row stored before a field was added to Conversation or Assistance is answered as stored, without it.
@router.get("/conversations/{conversation_id}", response_model=ConversationOut, response_model_exclude_unset=True)
def get_conversation(conversation_id: str, container: ContainerDep, _: SupervisorRole) -> ConversationOut:
    with container.db.session() as s:
        bundle = review_repo.conversation_bundle(s, conversation_id)
    if bundle is None:
        raise NotFound(f"no conversation with id {conversation_id!r}", field="conversation_id")
    return ConversationOut.model_validate(bundle)
