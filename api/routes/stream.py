"""``POST /v1/assist/stream``: the instant rules answer, then the LLM's parts as they are ready (server-sent events).

Events, in order: ``assist`` (the deterministic Assistance, flags stored, as from ``POST /v1/assist`` without an
LLM, plus ``pending``: the parts the LLM is now asked for, empty when none is configured or its breaker is open),
one ``part`` per part the LLM improved (``{"part": "empathy"|"next_steps"|"rewrite", "items": [...]}``; with a
draft also ``tone_llm``: the LLM's tone findings the rules missed, ``source: "llm"``, beside the rules' tone report
and never in it), then ``done`` (the final merged Assistance, ``degraded`` when a part fell back to the rules).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import AgentRole, AgentToken, ContainerDep
from api.routes.agent import as_token_agent, token_installation
from api.schemas import JSON_ERROR_RESPONSES, AssistIn, StreamEvent

router = APIRouter(prefix="/v1", tags=["agent"])


class EventStream(JSONResponse):
    """Names the answer in OpenAPI only: ``text/event-stream``, each event one of ``StreamEvent``. (FastAPI documents
    a ``response_model`` for JSONResponse classes alone, and any other class as a bare string, which no event is;
    the route answers a StreamingResponse itself. Not FastAPI's ``EventSourceResponse``: that one expects the route
    to be a generator and encodes the events itself.)"""

    media_type = "text/event-stream"


def sse(event: str, data: dict[str, Any]) -> str:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post(
    "/assist/stream",
    response_class=EventStream,
    response_model=StreamEvent,  # documents each event; the StreamingResponse answered is not validated against it
    responses={**JSON_ERROR_RESPONSES, 200: {"description": "Server-sent events: assist, part..., done"}},
)
def assist_stream(body: AssistIn, container: ContainerDep, _: AgentRole, token: AgentToken) -> StreamingResponse:
    """Server-sent events: ``assist`` (the rules answer, with ``pending``), a ``part`` per part the LLM improved,
    then ``done`` (the final Assistance)."""
    events = container.assist.stream(
        as_token_agent(token, body.conversation), draft=body.draft, installation_id=token_installation(token)
    )
    return StreamingResponse(
        _encoded(events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _encoded(events: Iterator[tuple[str, dict[str, Any]]]) -> Iterator[str]:
    for name, data in events:
        yield sse(name, data)
