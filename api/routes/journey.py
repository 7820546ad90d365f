"""The case journey: follow-ups (agents their own, supervisors all), resolutions and satisfaction surveys."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query

from api.auth import acting_agent, check_conversation
from api.deps import AgentToken, CaseRole, ContainerDep
from api.errors import ApiError
from api.persistence import journey_repo
from api.schemas import FollowUpDoneIn, FollowUpsOut, Moment, ResolveIn, ResolveOut, SurveyIn, SurveyOut
from assist.errors import InvalidInput, NotFound
from assist.models import FollowUp

router = APIRouter(prefix="/v1", tags=["case journey"])
FollowUpStatusQuery = Query("", pattern="^(|open|done|missed)$", description="open, done or missed (all when empty)")


@router.get("/follow-ups", response_model=FollowUpsOut)
def list_follow_ups(
    container: ContainerDep,
    role: CaseRole,
    token: AgentToken,
    status: str = FollowUpStatusQuery,
    due_before: Moment | None = None,
    agent: str = Query("", max_length=200, description="whose follow-ups (an agent key must name its agent)"),
    limit: int = Query(200, ge=1, le=1000),
) -> FollowUpsOut:
    """An agent's follow-ups (``agent`` names them: the sidebar sends the helpdesk's agent id); supervisors and
    admins see everyone's, or one agent's with ``agent``. An agent token lists its own agent's."""
    agent = acting_agent(token, agent) or ""
    if role == "agent" and not agent:
        raise InvalidInput("an agent key lists its own follow-ups: give agent=<agent id>", field="agent")
    with container.db.session() as s:
        items = journey_repo.list_follow_ups(s, status=status, due_before=due_before, agent=agent, limit=limit)
    return FollowUpsOut.model_validate({"items": items})


@router.post("/follow-ups/{follow_up_id}/done", response_model=FollowUp)
def follow_up_done(
    follow_up_id: str, container: ContainerDep, role: CaseRole, token: AgentToken, body: FollowUpDoneIn | None = None
) -> FollowUp:
    """Mark a follow-up done. An agent key marks its own agent's (or one with no agent) only; an agent token, its
    own agent's in the conversations it may act on."""
    agent = acting_agent(token, body.agent if body else None)
    if role == "agent" and not agent:
        raise InvalidInput('an agent key marks its own follow-ups: give {"agent": <agent id>}', field="agent")
    with container.db.session() as s:
        row = journey_repo.get_follow_up(s, follow_up_id)
        if row is None:
            raise NotFound(f"no follow-up with id {follow_up_id!r}", field="follow_up_id")
        check_conversation(token, row.conversation_id, field="follow_up_id")
        if role == "agent" and row.agent and row.agent != agent:
            raise ApiError("forbidden", "this follow-up belongs to another agent", field="agent")
        return FollowUp.model_validate(journey_repo.mark_done(row))


@router.post("/conversations/{conversation_id}/resolve", response_model=ResolveOut)
def resolve(
    conversation_id: str, container: ContainerDep, _: CaseRole, token: AgentToken, body: ResolveIn | None = None
) -> ResolveOut:
    """Mark a conversation Tactful has seen as resolved: its after-resolution follow-up is due after its contact
    level's delay (high touch sooner and personal, no touch the survey question alone)."""
    check_conversation(token, conversation_id, field="conversation_id")
    at = body.at if body else None
    if at is not None:
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        if at > datetime.now(UTC):
            raise InvalidInput("at is in the future: a conversation is resolved now or earlier", field="at")
    return ResolveOut.model_validate(container.assist.resolve(conversation_id, at=at))


@router.post("/conversations/{conversation_id}/survey", response_model=SurveyOut, status_code=201)
def survey(conversation_id: str, body: SurveyIn, container: ContainerDep, _: CaseRole, token: AgentToken) -> SurveyOut:
    """Record the customer's answer to the satisfaction question (1-5)."""
    check_conversation(token, conversation_id, field="conversation_id")
    return SurveyOut.model_validate(container.assist.survey(conversation_id, score=body.score, comment=body.comment))
