"""What happened at the helpdesks' pre-send tone gates: reported by the sidebar (agents), read by supervisors."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from api.auth import acting_agent, check_conversation
from api.deps import AgentRole, AgentToken, ContainerDep, SupervisorRole
from api.routes.agent import check_installation
from api.schemas import ToneGateEventIn, ToneGateEventKind, ToneGateEventOut, ToneGateEventsOut

router = APIRouter(prefix="/v1/tone-gate", tags=["tone gate"])


@router.post(
    "/events",
    response_model=ToneGateEventOut,
    status_code=201,
    responses={200: {"model": ToneGateEventOut, "description": "An event with this id was stored before: that event"}},
)
def record_event(
    body: ToneGateEventIn, container: ContainerDep, _: AgentRole, token: AgentToken, response: Response
) -> ToneGateEventOut:
    """A reply sent anyway (``overridden``), sent unchecked because Tactful did not answer in time
    (``unreachable``, reported when Tactful answers again, with ``occurred_at``), or held back (``blocked``: the
    check with ``gate`` records it itself). An ``id`` already stored answers that event (200), stored once."""
    if token is not None:
        check_installation(token, body.installation_id, field="installation_id")
        check_conversation(token, body.conversation_id, field="conversation_id")
        body.agent = acting_agent(token, body.agent)
        body.installation_id = body.installation_id or token.installation_id
    if body.id is not None:
        known = container.tone_gate.get(body.id)
        if known is not None:
            response.status_code = 200
            return ToneGateEventOut.model_validate(known)
    if body.installation_id:
        container.installations.tone_gate(body.installation_id)  # NotFound for an unknown installation
    stored = container.tone_gate.record(
        kind=body.kind, conversation_id=body.conversation_id, installation_id=body.installation_id,
        agent=body.agent, kinds=body.kinds, excerpt=body.excerpt, occurred_at=body.occurred_at, event_id=body.id,
    )  # fmt: skip
    return ToneGateEventOut.model_validate(stored)


@router.get("/events", response_model=ToneGateEventsOut)
def list_events(
    container: ContainerDep,
    _: SupervisorRole,
    kind: ToneGateEventKind | None = None,
    conversation_id: str = "",
    installation_id: str = "",
    agent: str = "",
    limit: int = Query(200, ge=1, le=1000),
) -> ToneGateEventsOut:
    """Newest first: which replies were held back, sent anyway or sent unchecked, by whom, for which issues."""
    items = container.tone_gate.list(kind=kind or "", conversation_id=conversation_id,
                                     installation_id=installation_id, agent=agent, limit=limit)  # fmt: skip
    return ToneGateEventsOut.model_validate({"items": items})
