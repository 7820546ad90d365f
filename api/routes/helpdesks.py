"""Helpdesk installations (admin) and writing back into a helpdesk (agents)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.concurrency import run_in_threadpool

from api.agent_tokens import AgentTokens, token_json
from api.auth import check_conversation, require
from api.chatwoot import ChatwootClient
from api.container import Container
from api.deps import AgentRole, AgentToken, ContainerDep
from api.errors import ApiError
from api.schemas import (
    AgentTokenOut,
    HelpdeskContextIn,
    HelpdeskContextOut,
    HelpdeskMessage,
    HelpdeskTokenIn,
    InstallationIn,
    InstallationOut,
    InstallationPatch,
    InstallationsOut,
    NoteIn,
    NoteOut,
    RotateIn,
)
from api.services.history import HistoryUnavailable
from api.zammad import ZammadClient
from api.zendesk import ZendeskClient
from assist.errors import HelpdeskUnavailable, InvalidInput, NotFound

router = APIRouter(prefix="/v1", tags=["helpdesks"])
AdminRole = Annotated[str, Depends(require("admin"))]


@router.post("/installations", response_model=InstallationOut, status_code=201)
def create_installation(body: InstallationIn, container: ContainerDep, _: AdminRole) -> InstallationOut:
    """A helpdesk installation; its API token and webhook secret are encrypted at rest and never answered."""
    return InstallationOut.model_validate(container.installations.create(**body.model_dump()))


@router.get("/installations", response_model=InstallationsOut)
def list_installations(container: ContainerDep, _: AdminRole) -> InstallationsOut:
    return InstallationsOut.model_validate({"items": container.installations.list()})


@router.patch("/installations/{installation_id}", response_model=InstallationOut)
def update_installation(
    installation_id: str, body: InstallationPatch, container: ContainerDep, _: AdminRole
) -> InstallationOut:
    """Change an installation's name, allowed frame origins, tone gate, app public key, knowledge scope or
    contact-level rules (what is left out stays)."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput(f"give one or more of {sorted(InstallationPatch.model_fields)}", field="body")
    return InstallationOut.model_validate(container.installations.update(installation_id, **changes))


@router.post("/installations/{installation_id}/rotate", response_model=InstallationOut)
def rotate_installation(installation_id: str, body: RotateIn, container: ContainerDep, _: AdminRole) -> InstallationOut:
    """Replace the API token and/or the webhook secret."""
    if body.api_token is None and body.webhook_secret is None:
        raise InvalidInput("give api_token, webhook_secret or both", field="webhook_secret")
    rotated = container.installations.rotate(
        installation_id, api_token=body.api_token, webhook_secret=body.webhook_secret
    )
    return InstallationOut.model_validate(rotated)


@router.delete("/installations/{installation_id}", status_code=204)
def delete_installation(installation_id: str, container: ContainerDep, _: AdminRole) -> Response:
    container.installations.remove(installation_id)
    return Response(status_code=204)


@router.post("/helpdesk/context", response_model=HelpdeskContextOut)
async def helpdesk_context(
    body: HelpdeskContextIn, container: ContainerDep, _: AgentRole, agent_token: AgentToken
) -> HelpdeskContextOut:
    """The conversation a helpdesk frame posted, read again through the helpdesk's API with the installation's
    token: a context for a conversation the token cannot see is refused (403); none is trusted as posted."""
    if body.installation_id:
        installation = container.installations.get(body.installation_id, kind="chatwoot")
        url, token, prefix = installation.base_url, installation.api_token, f"chatwoot-{installation.id}"
    else:
        url, token = container.settings.chatwoot_api_url, container.settings.chatwoot_api_token.get_secret_value()
        prefix = "chatwoot"
        if not (url and token):
            raise NotFound("no Chatwoot API is configured to check a posted context", field="installation_id")
    check_conversation(agent_token, f"{prefix}-{body.conversation_id}", field="conversation_id")
    locator = {"account_id": body.account_id, "conversation_id": body.conversation_id}
    try:
        messages = await run_in_threadpool(ChatwootClient(url, token).messages, locator)
    except HistoryUnavailable as exc:
        if exc.status in (401, 403, 404):
            raise ApiError("forbidden", "Chatwoot does not show this conversation to the installation's token: "
                           "the posted context is refused", field="conversation_id") from exc  # fmt: skip
        raise HelpdeskUnavailable(f"Chatwoot could not be asked for this conversation: {exc}",
                                  field="conversation_id") from exc  # fmt: skip
    return HelpdeskContextOut(
        conversation_id=f"{prefix}-{body.conversation_id}",
        messages=[
            HelpdeskMessage(role=m.role, text=m.text, at=m.at.isoformat() if m.at else None)  # type: ignore[arg-type]
            for m in messages
        ],
    )


@router.post("/conversations/{conversation_id}/notes", response_model=NoteOut, status_code=201)
async def add_note(
    conversation_id: str, body: NoteIn, container: ContainerDep, _: AgentRole, token: AgentToken
) -> NoteOut:
    """Post a suggestion as an internal note to the conversation's helpdesk: a Zammad ticket article with
    ``internal: true``, a Chatwoot private message, or a Zendesk private comment (the installation's API token).
    502 when the helpdesk does not take it."""
    check_conversation(token, conversation_id, field="conversation_id")
    write = _note_writer(conversation_id, container)
    return NoteOut(helpdesk_note_id=await run_in_threadpool(write, body.text))


@router.post("/helpdesk/token", response_model=AgentTokenOut, status_code=201)
async def helpdesk_token(body: HelpdeskTokenIn, container: ContainerDep) -> AgentTokenOut:
    """A short-lived agent token for one conversation of a Chatwoot or Zammad installation (no key): Tactful asks
    the helpdesk, with the installation's token, whether the conversation exists and ``agent_id`` is its agent.
    403 when the helpdesk says no, 502 when it does not answer, 404 for an unknown installation."""
    installation = container.installations.get(body.installation_id)
    if installation.kind == "zendesk":
        raise InvalidInput("Zendesk agents sign in with the app's signed JWT (POST /sidebar), not here",
                           field="installation_id")  # fmt: skip
    if installation.kind == "chatwoot":
        if body.account_id is None:
            raise InvalidInput("a Chatwoot installation needs the conversation's account_id", field="account_id")
        client = ChatwootClient(installation.base_url, installation.api_token)
        account_id = body.account_id
        name = await run_in_threadpool(lambda: client.agent_of_conversation(
            account_id=account_id, conversation_id=body.conversation_id, agent_id=body.agent_id))  # fmt: skip
    else:
        zammad = ZammadClient(installation.base_url, installation.api_token)
        name = await run_in_threadpool(
            lambda: zammad.agent_of_ticket(ticket_id=body.conversation_id, agent_id=body.agent_id)
        )
    token, claims = AgentTokens(container.settings).issue(
        installation_id=installation.id, agent_id=body.agent_id, agent_name=name,
        conversation_id=f"{installation.kind}-{installation.id}-{body.conversation_id}",
    )  # fmt: skip
    return AgentTokenOut.model_validate(token_json(token, claims))


@router.post("/helpdesk/token/refresh", response_model=AgentTokenOut)
def refresh_helpdesk_token(container: ContainerDep, _: AgentRole, token: AgentToken) -> AgentTokenOut:
    """The caller's agent token again with a later expiry (``Authorization: Bearer <agent token>``), for up to
    ``TACTFUL_AGENT_TOKEN_MAX_AGE_S`` after the helpdesk vouched for the agent; then 401: sign in again."""
    if token is None:
        raise InvalidInput("only an agent token is refreshed: send it as Authorization: Bearer <token>",
                           field="authorization")  # fmt: skip
    fresh, claims = AgentTokens(container.settings).refresh(token)
    return AgentTokenOut.model_validate(token_json(fresh, claims))


def _note_writer(conversation_id: str, container: Container) -> Callable[[str], str]:
    """How to write a note to this conversation's helpdesk; ``NotFound`` for one Tactful cannot write to."""
    kind, _sep, rest = conversation_id.partition("-")
    installation_id, _sep, remote_id = rest.rpartition("-")
    if kind == "zammad" and installation_id and remote_id.isdigit():
        zammad = container.installations.get(installation_id, kind="zammad")
        client = ZammadClient(zammad.base_url, zammad.api_token)
        return lambda text: client.add_note(remote_id, text)
    if kind == "zendesk" and installation_id and remote_id.isdigit():
        zendesk = container.installations.get(installation_id, kind="zendesk")
        if zendesk.api_token:
            zendesk_client = ZendeskClient(zendesk.base_url, zendesk.api_token)
            return lambda text: zendesk_client.add_private_note(remote_id, text)
    if kind == "chatwoot" and rest:
        locator = container.history.locator(conversation_id)
        if installation_id:
            chatwoot = container.installations.get(installation_id, kind="chatwoot")
            url, token = chatwoot.base_url, chatwoot.api_token
        else:
            settings = container.settings
            url, token = settings.chatwoot_api_url, settings.chatwoot_api_token.get_secret_value()
        if url and token:
            chatwoot_client = ChatwootClient(url, token)
            return lambda text: chatwoot_client.add_private_note(locator, text)
    raise NotFound(
        f"{conversation_id!r} is not a conversation of a helpdesk Tactful can write to", field="conversation_id"
    )
