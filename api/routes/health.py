from __future__ import annotations

from fastapi import APIRouter

from api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> dict[str, str]:
    """Ready once the app has started (the knowledge base is loaded during start-up)."""
    return {"status": "ok"}
