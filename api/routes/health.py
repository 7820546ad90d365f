from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.deps import ContainerDep
from api.metrics import CONTENT_TYPE
from api.schemas import JSON_ERROR_RESPONSES, Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> dict[str, str]:
    """Ready once the app has started (the knowledge base is loaded during start-up)."""
    return {"status": "ok"}


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={**JSON_ERROR_RESPONSES, 200: {"description": "Prometheus text exposition format"}},
)
def metrics(container: ContainerDep) -> PlainTextResponse:
    """Request latency per route, assists, flags raised, LLM calls, rate-limited requests and the indexing queue."""
    return PlainTextResponse(container.metrics.render(), media_type=CONTENT_TYPE)
