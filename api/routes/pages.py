"""Browser pages: the agent sidebar, the supervisor queue, the knowledge page (Jinja2, plain JS, no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

router = APIRouter(tags=["pages"], include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")


def _page(request: Request, name: str, *, role: str, title: str) -> HTMLResponse:
    settings = request.app.state.container.settings
    origins = " ".join(o for o in settings.frame_ancestors.split() if o.startswith("http"))
    context = {"role": role, "title": title, "dev_open": settings.dev_open, "allowed_origins": origins}
    return templates.TemplateResponse(request, name, context)


@router.get("/", response_class=RedirectResponse)
def index() -> RedirectResponse:
    return RedirectResponse("/sidebar")


@router.get("/sidebar", response_class=HTMLResponse)
def sidebar(request: Request) -> HTMLResponse:
    return _page(request, "sidebar.html", role="agent", title="Tactful")


@router.get("/supervisor", response_class=HTMLResponse)
def supervisor(request: Request) -> HTMLResponse:
    return _page(request, "supervisor.html", role="supervisor", title="Tactful · review")


@router.get("/supervisor/report", response_class=HTMLResponse)
def service_report(request: Request) -> HTMLResponse:
    return _page(request, "report.html", role="supervisor", title="Tactful · service review")


@router.get("/knowledge", response_class=HTMLResponse)
def knowledge(request: Request) -> HTMLResponse:
    return _page(request, "knowledge.html", role="knowledge", title="Tactful · knowledge")
