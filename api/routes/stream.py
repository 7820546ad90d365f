"""``POST /v1/assist/stream``: the instant rules answer, then the LLM's parts as they are ready (server-sent events).

Events, in order: ``assist`` (the deterministic Assistance, flags stored, as from ``POST /v1/assist`` without an
LLM, plus ``pending``: the parts the LLM is now asked for, empty when none is configured or its breaker is open),
one ``part`` per part the LLM improved (``{"part": "empathy"|"next_steps"|"rewrite", "items": [...]}``), then
``done`` (the final merged Assistance, ``degraded`` when a part fell back to the rules).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api.deps import AgentRole, ContainerDep
from api.routes.agent import store_assist, store_flags
from api.schemas import AssistIn
from assist.models import Assistance, Conversation, Passage
from assist.refine import Done, assist_with_passages

router = APIRouter(prefix="/v1", tags=["agent"])


def sse(event: str, data: dict[str, Any]) -> str:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/assist/stream")
def assist_stream(body: AssistIn, container: ContainerDep, _: AgentRole) -> StreamingResponse:
    conversation = body.conversation
    # The rules answer is computed before the response starts, so bad input still gets a normal 4xx.
    result, passages = assist_with_passages(container.engine, conversation, draft=body.draft)
    flags = store_flags(container, conversation, result)
    events = _events(container, conversation, result, passages=passages, draft=body.draft, flags=flags)
    return StreamingResponse(
        events, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def _events(
    container: Any,
    conversation: Conversation,
    result: Assistance,
    *,
    passages: list[Passage],
    draft: str | None,
    flags: list[dict[str, Any]],
) -> Iterator[str]:
    final = result
    try:
        pending = container.refiner.planned(result, draft) if container.refiner is not None else []
        yield sse("assist", {**result.model_dump(mode="json"), "flags": flags, "pending": pending})
        if container.refiner is not None:
            for update in container.refiner.stream(result, conversation=conversation, passages=passages, draft=draft):
                final = update.assistance
                if not isinstance(update, Done):
                    yield sse("part", {"part": update.part, "items": update.items, "engine": "llm"})
        yield sse("done", {**final.model_dump(mode="json"), "flags": flags})
    finally:
        # Stored even when the client went away mid-stream: feedback may still refer to this suggestion.
        store_assist(container, conversation, final)
