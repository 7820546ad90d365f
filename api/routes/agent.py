"""Agents: search, assist, tone check, feedback."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Response

from api import gaps
from api.container import DEMO_CONVERSATIONS
from api.deps import AgentRole, ContainerDep
from api.persistence import review_repo
from api.schemas import AssistIn, FeedbackIn, SearchIn, ToneIn
from assist.engine import build_query
from assist.errors import NotFound
from assist.language import detect_language
from assist.models import Assistance, Conversation, Passage, ToneReport
from assist.refine import assist_with_passages
from assist.tone import check_tone

router = APIRouter(prefix="/v1", tags=["agent"])


def _record_gap(
    container: Any, *, question: str, language: str, passages: list[Passage], conversation_id: str | None
) -> None:
    best = gaps.best_relevance(passages)
    if best < container.settings.gap_threshold:
        vector = container.knowledge.embed_query(question)
        with container.db.session() as s:
            gaps.record_gap(
                s, question=question, language=language, best_score=best, conversation_id=conversation_id,
                vector=vector,
            )  # fmt: skip


@router.post("/search")
def search(body: SearchIn, container: ContainerDep, _: AgentRole) -> dict[str, Any]:
    language = body.language or detect_language(body.query)
    filters = {k: v for k, v in (body.filters.model_dump() if body.filters else {}).items() if v}
    passages = container.knowledge.search(body.query, k=body.k, language=language, filters=filters)
    if not filters:
        _record_gap(
            container, question=body.query, language=language, passages=passages, conversation_id=body.conversation_id
        )
    return {"results": [p.model_dump() for p in passages], "language": language}


@router.post("/assist")
def assist(body: AssistIn, container: ContainerDep, _: AgentRole) -> dict[str, Any]:
    conversation = body.conversation
    result, passages = assist_with_passages(container.engine, conversation, draft=body.draft)
    if container.refiner is not None:
        result = container.refiner.refine(result, conversation=conversation, passages=passages, draft=body.draft)
    flags = store_flags(container, conversation, result)
    store_assist(container, conversation, result)
    return {**result.model_dump(mode="json"), "flags": flags}


def store_flags(container: Any, conversation: Conversation, result: Assistance) -> list[dict[str, Any]]:
    """Store the conversation and its flags; the flags as stored (with their ids)."""
    level = result.contact_level.level
    with container.db.session() as s:
        review_repo.save_conversation(s, conversation, language=result.language, level=level)
        return review_repo.record_flags(s, result.flags, language=result.language, level=level)


def store_assist(container: Any, conversation: Conversation, result: Assistance) -> None:
    """Store the assistance given, and the question as a knowledge gap when no passage answered it well."""
    with container.db.session() as s:
        review_repo.save_assist(s, result.model_copy(), conversation_id=conversation.id)
    record_gap_of(container, conversation, result)


def record_gap_of(container: Any, conversation: Conversation, result: Assistance) -> None:
    """The assist's question as a knowledge gap when its best article scored below the threshold."""
    passages = [
        Passage(
            document_id=a.document_id, chunk_id=a.chunk_id, title=a.title, text="", score=a.score, relevance=a.score
        )
        for a in result.articles
    ]
    _record_gap(
        container, question=result.query, language=result.language, passages=passages, conversation_id=conversation.id
    )


@router.post("/tone")
def tone(body: ToneIn, container: ContainerDep, _: AgentRole) -> ToneReport:
    policy: list[str] = []
    if body.conversation is not None:
        language = body.language or container.engine.language_of(body.conversation)
        passages = container.knowledge.search(build_query(body.conversation), k=5, language=language)
        policy = [p.text for p in passages if p.kind in ("policy", "faq")]
    return check_tone(
        body.text,
        language=body.language,
        customer_name=body.customer_name,
        contact_level=body.contact_level,
        policy_texts=policy,
    )


@router.post("/feedback", status_code=204)
def feedback(body: FeedbackIn, container: ContainerDep, _: AgentRole) -> Response:
    with container.db.session() as s:
        language = review_repo.assist_language(s, body.suggestion_id)
        if language is None:
            raise NotFound(f"no suggestion with id {body.suggestion_id!r}", field="suggestion_id")
        review_repo.save_feedback(
            s,
            suggestion_id=body.suggestion_id,
            item=body.item,
            index=body.index,
            action=body.action,
            final_text=body.final_text,
            language=language,
        )
    return Response(status_code=204)


@router.get("/feedback/report")
def feedback_report(container: ContainerDep, _: AgentRole) -> dict[str, Any]:
    with container.db.session() as s:
        return {"items": review_repo.feedback_report(s)}


@router.get("/demo/conversations")
def demo_conversations(_: AgentRole) -> dict[str, Any]:
    """The bundled demo conversations, for the sidebar's picker."""
    items = json.loads(DEMO_CONVERSATIONS.read_text(encoding="utf-8")) if DEMO_CONVERSATIONS.exists() else []
    return {"items": items}
