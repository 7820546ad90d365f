"""Browser pages: the agent sidebar, the supervisor queue, the knowledge page (Jinja2, plain JS, no build step)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from api.agent_tokens import AgentTokens, token_json
from api.survey import SurveyLinks
from api.zendesk_jwt import SignedUrlError, verify_app_jwt
from assist.errors import NotFound
from assist.follow_ups import BANK as FOLLOW_UPS
from prompts import load_bank

router = APIRouter(tags=["pages"], include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")


def _page(request: Request, name: str, *, role: str, title: str, **extra: object) -> HTMLResponse:
    settings = request.app.state.container.settings
    configured = [o for o in settings.frame_ancestors.split() if o.startswith("http")]
    origins = " ".join([*configured, *request.app.state.container.installations.frame_origins()])
    context = {"role": role, "title": title, "dev_open": settings.dev_open, "allowed_origins": origins, **extra}
    return templates.TemplateResponse(request, name, context)


@router.get("/", response_class=RedirectResponse)
def index() -> RedirectResponse:
    return RedirectResponse("/sidebar")


@router.get("/sidebar", response_class=HTMLResponse)
def sidebar(request: Request, helpdesk: str = "") -> HTMLResponse:
    """The agent sidebar; ``?helpdesk=zendesk`` loads Zendesk's app SDK (and only then: the page's scripts are its
    own and, in that mode, the SDK's origin)."""
    return _sidebar(request, helpdesk)


# Zendesk opens an app with ``signedUrls`` by POSTing its signed JWT (form field ``token``) to the app's URL.
@router.post("/sidebar", response_class=HTMLResponse)
async def signed_sidebar(request: Request, helpdesk: str = "", installation: str = "") -> HTMLResponse:
    """The sidebar opened by Zendesk with a signed app JWT: verified with the installation's app public key, it is
    exchanged for a short-lived agent token embedded in the page (held in memory by the page's script: not in the
    URL, not a cookie). A refused JWT answers the page with the reason, no token, and the key sign-in."""
    given = (await request.form()).get("token")
    if not isinstance(given, str) or not given.strip():
        return _sidebar(request, helpdesk)  # signedUrls off: agents sign in with a key as before
    try:
        agent_token = _exchange(request, given, installation)
    except SignInRefused as exc:
        return _sidebar(request, helpdesk, sign_in_error=str(exc), status_code=exc.status)
    return _sidebar(request, helpdesk, agent_token=json.dumps(agent_token))


class SignInRefused(ValueError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _exchange(request: Request, jwt: str, installation: str) -> dict[str, object]:
    """The agent token for a Zendesk app JWT; ``SignInRefused`` saying why not."""
    container = request.app.state.container
    if not installation:
        raise SignInRefused("the app's URL has no ?installation=<id>: Tactful cannot check the signed token", 422)
    try:
        base_url, public_key = container.installations.app_public_key(installation, kind="zendesk")
    except NotFound as exc:
        raise SignInRefused(f"{exc.message}: the app's installation_id setting is wrong", 404) from exc
    if not public_key:
        raise SignInRefused("this installation has no app_public_key: an admin sets it (PATCH /v1/installations) "
                            "before agents can sign in with Zendesk's signed token", 409)  # fmt: skip
    try:
        agent = verify_app_jwt(jwt, public_key_pem=public_key, base_url=base_url)
    except SignedUrlError as exc:
        raise SignInRefused(f"Zendesk's signed token is refused: {exc}", 401) from exc
    token, claims = AgentTokens(container.settings).issue(
        installation_id=installation, agent_id=agent.id, agent_name=agent.name
    )
    return token_json(token, claims)


def _sidebar(request: Request, helpdesk: str, *, status_code: int = 200, **extra: object) -> HTMLResponse:
    sdk = request.app.state.container.settings.zendesk_sdk_url if helpdesk == "zendesk" else ""
    page = _page(request, "sidebar.html", role="agent", title="Tactful", zendesk_sdk_url=sdk, **extra)
    page.status_code = status_code
    page.headers["Content-Security-Policy"] = " ".join(["script-src 'self'", *_origin(sdk)])
    page.headers["Cache-Control"] = "no-store"  # a page may carry an agent token
    return page


def _origin(url: str) -> list[str]:
    """The origin to allow scripts from for ``url`` (none for a path on Tactful itself)."""
    parts = urlsplit(url)
    return [f"{parts.scheme}://{parts.netloc}"] if parts.scheme and parts.netloc else []


@router.get("/supervisor", response_class=HTMLResponse)
def supervisor(request: Request) -> HTMLResponse:
    return _page(request, "supervisor.html", role="supervisor", title="Tactful · review")


@router.get("/supervisor/report", response_class=HTMLResponse)
def service_report(request: Request) -> HTMLResponse:
    return _page(request, "report.html", role="supervisor", title="Tactful · service review")


def _survey(request: Request, token: str, *, thanks: bool = False, status_code: int = 200) -> HTMLResponse:
    container = request.app.state.container
    conversation_id = SurveyLinks(container.settings).conversation_of(token)
    language = container.assist.conversation_language(conversation_id) if conversation_id else None
    bank = load_bank(FOLLOW_UPS, language or "en")
    if conversation_id is None or language is None:
        return HTMLResponse("<!doctype html><title>Not found</title><p>This survey link is not valid.</p>", 404)
    context = {
        "language": language, "title": bank["title"], "question": bank["survey"].split("?")[0] + "?",
        "scores": bank["scores"], "thanks": bank["thanks"] if thanks else "",
    }  # fmt: skip
    return templates.TemplateResponse(request, "survey.html", context, status_code=status_code)


@router.get("/survey/{token}", response_class=HTMLResponse)
def survey_page(request: Request, token: str) -> HTMLResponse:
    """The one-click satisfaction survey a customer opens from a follow-up (no key: the link is signed)."""
    return _survey(request, token)


@router.post("/survey/{token}", response_class=HTMLResponse)
def survey_answer(request: Request, token: str, score: int = Form(ge=1, le=5)) -> HTMLResponse:
    container = request.app.state.container
    conversation_id = SurveyLinks(container.settings).conversation_of(token)
    if conversation_id is None:
        return _survey(request, token)
    container.assist.survey(conversation_id, score=score, comment="")
    return _survey(request, token, thanks=True, status_code=201)


@router.get("/knowledge", response_class=HTMLResponse)
def knowledge(request: Request) -> HTMLResponse:
    return _page(request, "knowledge.html", role="knowledge", title="Tactful · knowledge")
