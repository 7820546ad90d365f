"""Helpdesk installations (admin) and writing back into a helpdesk (agents)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.concurrency import run_in_threadpool

from api.auth import require
from api.deps import AgentRole, ContainerDep
from api.schemas import InstallationIn, InstallationOut, InstallationsOut, NoteIn, NoteOut, RotateIn
from api.zammad import HelpdeskError, ZammadClient
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


@router.post("/conversations/{conversation_id}/notes", response_model=NoteOut, status_code=201)
async def add_note(conversation_id: str, body: NoteIn, container: ContainerDep, _: AgentRole) -> NoteOut:
    """Post a suggestion as an internal note to the conversation's helpdesk (Zammad: a ticket article with
    ``internal: true``). 502 when the helpdesk does not take it."""
    kind, _sep, rest = conversation_id.partition("-")
    installation_id, _sep, ticket_id = rest.rpartition("-")
    if kind != "zammad" or not installation_id or not ticket_id.isdigit():
        raise NotFound(
            f"{conversation_id!r} is not a conversation of a helpdesk installation Tactful can write to",
            field="conversation_id",
        )
    installation = container.installations.get(installation_id, kind="zammad")
    client = ZammadClient(installation.base_url, installation.api_token)
    try:
        note_id = await run_in_threadpool(client.add_note, ticket_id, body.text)
    except HelpdeskError as exc:
        raise HelpdeskUnavailable(str(exc), field="conversation_id") from exc
    return NoteOut(helpdesk_note_id=note_id)
