from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Ready once the app has started (the knowledge base is loaded during start-up)."""
    return {"status": "ok"}
