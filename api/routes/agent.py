"""Agents: search, assist, tone check, feedback."""

from __future__ import annotations

import json

from fastapi import APIRouter, Response

from api.agent_tokens import AgentClaims
from api.auth import acting_agent, check_conversation
from api.container import DEMO_CONVERSATIONS
from api.deps import AgentRole, AgentToken, ContainerDep
from api.errors import ApiError
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
from assist.models import Agent, Conversation

router = APIRouter(prefix="/v1", tags=["agent"])


@router.post("/search", response_model=SearchOut)
def search(body: SearchIn, container: ContainerDep, _: AgentRole, token: AgentToken) -> SearchOut:
    check_conversation(token, body.conversation_id, field="conversation_id")
    filters = {k: v for k, v in (body.filters.model_dump() if body.filters else {}).items() if v}
    passages, language = container.assist.search(
        body.query, k=body.k, language=body.language, filters=filters, conversation_id=body.conversation_id,
        installation_id=token_installation(token),
    )  # fmt: skip
    return SearchOut(results=passages, language=language)


@router.post("/assist", response_model=AssistOut)
def assist(body: AssistIn, container: ContainerDep, _: AgentRole, token: AgentToken) -> AssistOut:
    conversation = as_token_agent(token, body.conversation)
    outcome = container.assist.assist(conversation, draft=body.draft, installation_id=token_installation(token))
    return AssistOut.model_validate(outcome.payload())


def token_installation(token: AgentClaims | None) -> str | None:
    """An agent token's installation, whose knowledge scope and contact-level rules apply (a key: the
    conversation's installation, named in its id, when it has one)."""
    return token.installation_id if token is not None else None


def as_token_agent(token: AgentClaims | None, conversation: Conversation) -> Conversation:
    """With an agent token: the conversation must be one the token may act on, and its agent is the token's (the
    name and the rest of what the sidebar sent are kept when the id is the same)."""
    if token is None:
        return conversation
    check_conversation(token, conversation.id, field="conversation.id")
    sent = conversation.agent
    kept = sent.model_dump(exclude={"id", "name"}) if sent is not None and sent.id == token.agent_id else {}
    name = token.agent_name or (sent.name if sent is not None and sent.id == token.agent_id else None)
    return conversation.model_copy(update={"agent": Agent(id=token.agent_id, name=name, **kept)})


@router.post("/tone", response_model=ToneOut)
def tone(body: ToneIn, container: ContainerDep, _: AgentRole, token: AgentToken) -> ToneOut:
    """The tone check; with ``gate``, also whether the installation's pre-send gate holds the reply back (a held
    reply is recorded as a ``blocked`` event for supervisors)."""
    if body.conversation is not None:
        body.conversation = as_token_agent(token, body.conversation)
    report = container.assist.check_tone(
        body.text,
        language=body.language,
        customer_name=body.customer_name,
        contact_level=body.contact_level,
        conversation=body.conversation,
        installation_id=token_installation(token),
    )
    if body.gate is None:
        return ToneOut.model_validate(report.model_dump())
    gate = body.gate
    if token is not None:
        check_installation(token, gate.installation_id, field="gate.installation_id")
        check_conversation(token, gate.conversation_id, field="gate.conversation_id")
        gate.agent = acting_agent(token, gate.agent, field="gate.agent")
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


def check_installation(token: AgentClaims, installation_id: str | None, *, field: str) -> None:
    """403 when an agent token names another installation than its own."""
    if installation_id and installation_id != token.installation_id:
        raise ApiError("forbidden", f"this agent token belongs to installation {token.installation_id}", field=field)


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
