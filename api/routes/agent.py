"""Agents: search, assist, tone check, feedback."""

from __future__ import annotations

import json

from fastapi import APIRouter, Response

from api.container import DEMO_CONVERSATIONS
from api.deps import AgentRole, ContainerDep
from api.persistence import review_repo
from api.schemas import (
    AssistIn,
    AssistOut,
    DemoConversationsOut,
    FeedbackIn,
    FeedbackReport,
    SearchIn,
    SearchOut,
    ToneGateDecision,
    ToneIn,
    ToneOut,
)
from api.services.tone_gate import decide, excerpt
from assist.errors import NotFound

router = APIRouter(prefix="/v1", tags=["agent"])


@router.post("/search", response_model=SearchOut)
def search(body: SearchIn, container: ContainerDep, _: AgentRole) -> SearchOut:
    filters = {k: v for k, v in (body.filters.model_dump() if body.filters else {}).items() if v}
    passages, language = container.assist.search(
        body.query, k=body.k, language=body.language, filters=filters, conversation_id=body.conversation_id
    )
    return SearchOut(results=passages, language=language)


@router.post("/assist", response_model=AssistOut)
def assist(body: AssistIn, container: ContainerDep, _: AgentRole) -> AssistOut:
    return AssistOut.model_validate(container.assist.assist(body.conversation, draft=body.draft).payload())


@router.post("/tone", response_model=ToneOut)
def tone(body: ToneIn, container: ContainerDep, _: AgentRole) -> ToneOut:
    """The tone check; with ``gate``, also whether the installation's pre-send gate holds the reply back (a held
    reply is recorded as a ``blocked`` event for supervisors)."""
    report = container.assist.check_tone(
        body.text,
        language=body.language,
        customer_name=body.customer_name,
        contact_level=body.contact_level,
        conversation=body.conversation,
    )
    if body.gate is None:
        return ToneOut.model_validate(report.model_dump())
    gate = body.gate
    decision = decide(report, container.installations.tone_gate(gate.installation_id), public=gate.public)
    event = None
    if decision.blocked:
        event = container.tone_gate.record(
            kind="blocked", conversation_id=gate.conversation_id, installation_id=gate.installation_id,
            agent=gate.agent, kinds=[i.kind for i in decision.issues], excerpt=excerpt(body.text, decision.issues),
        )  # fmt: skip
    answer = ToneGateDecision(
        blocked=decision.blocked, allow_override=decision.allow_override, issues=decision.issues,
        rewrite=decision.rewrite, message=decision.message, event_id=event["id"] if event else None,
    )  # fmt: skip
    return ToneOut.model_validate(report.model_dump() | {"gate": answer})


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


# Unset: an action never taken stays absent rather than answered as 0.
@router.get("/feedback/report", response_model=FeedbackReport, response_model_exclude_unset=True)
def feedback_report(container: ContainerDep, _: AgentRole) -> FeedbackReport:
    """How agents treated the suggestions, per item and language."""
    with container.db.session() as s:
        return FeedbackReport.model_validate({"items": review_repo.feedback_report(s)})


# Unset: the file's keys only, not the Conversation defaults it leaves out.
@router.get("/demo/conversations", response_model=DemoConversationsOut, response_model_exclude_unset=True)
def demo_conversations(_: AgentRole) -> DemoConversationsOut:
    """The bundled demo conversations, for the sidebar's picker."""
    items = json.loads(DEMO_CONVERSATIONS.read_text(encoding="utf-8")) if DEMO_CONVERSATIONS.exists() else []
    return DemoConversationsOut.model_validate({"items": items})
