"""``POST /v1/webhooks/chatwoot``: Chatwoot tells the service about each message as it is written.

Each customer or agent message is assessed at once, without waiting for an agent to open the sidebar: flags
(frustration rising, an agent's sarcasm, escalation risk) reach supervisors, unanswered questions reach the
gaps report, and the customer's turn is embedded, so the sidebar's next assist finds its vector in the cache.
Authenticated by Chatwoot's HMAC signature (role keys cannot be sent by Chatwoot); answered at once (Chatwoot
gives up after 5 s), the assessment runs after the answer. A delivery id seen before is acknowledged and dropped.
"""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError

from api import zammad as zammad_api
from api import zendesk as zendesk_api
from api.chatwoot import ChatwootClient, SignatureError, heard_from_event, resolved_conversation, verify
from api.container import Container
from api.deps import ContainerDep
from api.errors import ApiError
from api.persistence import history_repo
from api.schemas import (
    HistorySummary,
    WebhookDuplicate,
    WebhookHeard,
    WebhookIgnored,
    WebhookReceipt,
    WebhookResolution,
)
from api.services.history import HeardConversation, HistoryFetcher
from api.services.installations import installation_of
from assist.errors import NotFound

router = APIRouter(prefix="/v1/webhooks", tags=["integrations"])
log = logging.getLogger("tactful.webhooks")


@router.post(
    "/chatwoot",
    response_model=WebhookReceipt,
    responses={202: {"model": WebhookHeard, "description": "A new message stored, assessed after this answer"}},
)
async def chatwoot(
    request: Request, response: Response, background: BackgroundTasks, container: ContainerDep
) -> WebhookReceipt:
    """The Chatwoot installation configured by environment (``TACTFUL_CHATWOOT_*``); conversations ``chatwoot-<id>``."""
    secret = container.settings.chatwoot_webhook_secret.get_secret_value()
    if not secret:
        raise ApiError(
            "forbidden", "Chatwoot webhooks are off: set TACTFUL_CHATWOOT_WEBHOOK_SECRET", field="X-Chatwoot-Signature"
        )
    return await _chatwoot_event(request, response, background, container, secret=secret, prefix="chatwoot")


@router.post(
    "/chatwoot/{installation_id}",
    response_model=WebhookReceipt,
    responses={202: {"model": WebhookHeard, "description": "A new message stored, assessed after this answer"}},
)
async def chatwoot_installation(
    installation_id: str, request: Request, response: Response, background: BackgroundTasks, container: ContainerDep
) -> WebhookReceipt:
    """A Chatwoot installation registered through ``/v1/installations``; conversations
    ``chatwoot-<installation>-<id>`` (ids of different installations never meet)."""
    installation = await run_in_threadpool(container.installations.get, installation_id, kind="chatwoot")
    return await _chatwoot_event(
        request, response, background, container,
        secret=installation.webhook_secret, prefix=f"chatwoot-{installation_id}",
    )  # fmt: skip


async def _chatwoot_event(
    request: Request,
    response: Response,
    background: BackgroundTasks,
    container: Container,
    *,
    secret: str,
    prefix: str,
) -> WebhookReceipt:
    body = await request.body()
    try:
        verify(
            secret,
            body,
            signature=request.headers.get("X-Chatwoot-Signature", ""),
            timestamp=request.headers.get("X-Chatwoot-Timestamp", ""),
        )
    except SignatureError as exc:
        raise ApiError("unauthorized", str(exc), field=exc.header) from exc
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise ApiError("bad_request", "the body is not JSON", field="body") from exc
    if not isinstance(event, dict):
        raise ApiError("bad_request", "the body is not a JSON object", field="body")
    delivery = request.headers.get("X-Chatwoot-Delivery", "").strip()[:200]
    if (
        event.get("event") != "message_created"
        and delivery
        and not await run_in_threadpool(_first_delivery, container, delivery)
    ):
        return WebhookDuplicate(status="duplicate", delivery=delivery)
    resolved = resolved_conversation(event, prefix=prefix)
    if resolved is not None:
        known = await run_in_threadpool(container.history.resolve, resolved)
        if known:  # the after-resolution follow-up, when Tactful has assessed the conversation
            await run_in_threadpool(_resolve_case, container, resolved)
        return WebhookResolution(status="resolved" if known else "ignored", conversation_id=resolved)
    if event.get("event") != "message_created":
        return WebhookIgnored(status="ignored", reason=f"event {event.get('event')!r}")
    heard = heard_from_event(event, prefix=prefix)
    if heard is None:
        return WebhookIgnored(status="ignored", reason="not a public text message")
    return await _take(container, heard, delivery=delivery, key=delivery, response=response, background=background)


async def _take(
    container: Container,
    heard: HeardConversation,
    *,
    delivery: str,
    key: str,
    response: Response,
    background: BackgroundTasks,
) -> WebhookReceipt:
    """Store a heard message before answering, in the same transaction as its delivery ``key`` (so that nothing the
    helpdesk was told we took is lost, and a failed delivery can be retried), then assess it after the answer."""
    recorded = await run_in_threadpool(container.history.record, heard, delivery=key or None)
    if recorded.redelivered:
        return WebhookDuplicate(status="duplicate", delivery=delivery)
    history = HistorySummary.model_validate(recorded.summary())
    if not recorded.stored:
        return WebhookHeard(status="unchanged", conversation_id=heard.id, history=history)
    background.add_task(assess, container, heard)
    response.status_code = 202
    return WebhookHeard(status="accepted", conversation_id=heard.id, history=history)


@router.post(
    "/zammad/{installation_id}",
    response_model=WebhookReceipt,
    responses={202: {"model": WebhookHeard, "description": "A new article stored, assessed after this answer"}},
)
async def zammad(
    installation_id: str,
    request: Request,
    response: Response,
    background: BackgroundTasks,
    container: ContainerDep,
) -> WebhookReceipt:
    """A Zammad trigger webhook of one installation (``X-Hub-Signature`` checked on the raw body, redeliveries
    dropped by ``X-Zammad-Delivery``): a customer's article feeds state and gaps, an agent's is tone-checked."""
    installation = await run_in_threadpool(container.installations.get, installation_id, kind="zammad")
    body = await request.body()
    try:
        zammad_api.verify(installation.webhook_secret, body, signature=request.headers.get("X-Hub-Signature", ""))
    except zammad_api.SignatureError as exc:
        raise ApiError("unauthorized", str(exc), field="X-Hub-Signature") from exc
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ApiError("bad_request", "the body is not JSON", field="body") from exc
    heard = zammad_api.heard_from_trigger(payload, installation_id=installation_id)
    if heard is None:
        return WebhookIgnored(status="ignored", reason="not a public article from the customer or an agent")
    delivery = request.headers.get("X-Zammad-Delivery", "").strip()[:150]
    key = f"zammad:{installation_id}:{delivery}" if delivery else ""
    return await _take(container, heard, delivery=delivery, key=key, response=response, background=background)


@router.post(
    "/zendesk/{installation_id}",
    response_model=WebhookReceipt,
    responses={202: {"model": WebhookHeard, "description": "A new comment stored, assessed after this answer"}},
)
async def zendesk(
    installation_id: str,
    request: Request,
    response: Response,
    background: BackgroundTasks,
    container: ContainerDep,
) -> WebhookReceipt:
    """A Zendesk trigger webhook of one installation, with the body integrations/zendesk/README.md gives
    (``X-Zendesk-Webhook-Signature`` checked on the timestamp and the raw body, stale requests refused, retries
    dropped by ``X-Zendesk-Webhook-Invocation-Id``): a requester's public comment feeds state and gaps, an agent's
    is tone-checked; conversations ``zendesk-<installation>-<ticket>``."""
    installation = await run_in_threadpool(container.installations.get, installation_id, kind="zendesk")
    body = await request.body()
    try:
        zendesk_api.verify(
            installation.webhook_secret,
            body,
            signature=request.headers.get(zendesk_api.SIGNATURE, ""),
            timestamp=request.headers.get(zendesk_api.TIMESTAMP, ""),
        )
    except zendesk_api.SignatureError as exc:
        raise ApiError("unauthorized", str(exc), field=exc.header) from exc
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ApiError("bad_request", "the body is not JSON", field="body") from exc
    heard = zendesk_api.heard_from_trigger(payload, installation_id=installation_id)
    if heard is None:
        return WebhookIgnored(status="ignored", reason="not a public comment with text")
    invocation = request.headers.get(zendesk_api.INVOCATION, "").strip()[:150]
    key = f"zendesk:{installation_id}:{invocation}" if invocation else ""
    return await _take(container, heard, delivery=invocation, key=key, response=response, background=background)


def _resolve_case(container: Container, conversation_id: str) -> None:
    try:
        container.assist.resolve(conversation_id, source="chatwoot")
    except NotFound:
        log.info("resolved conversation %s was never assessed: no follow-up", conversation_id)


def _first_delivery(container: Container, delivery: str) -> bool:
    try:
        with container.db.session() as s:
            return history_repo.take_delivery(s, delivery, source="chatwoot")
    except IntegrityError:  # the same delivery, at the same moment
        return False


def _installation_fetcher(container: Container, heard: HeardConversation) -> HistoryFetcher | None:
    """The helpdesk API (Chatwoot, Zendesk) of the registered installation a conversation belongs to, with its own
    token (None for the environment's Chatwoot, Zammad, or an installation removed or without a token)."""
    named = installation_of(heard.id)
    if named is None or named[0] not in ("chatwoot", "zendesk"):
        return None
    try:
        installation = container.installations.get(named[1], kind=named[0])
    except NotFound:
        return None
    if not installation.base_url or not installation.api_token:
        return None
    if named[0] == "zendesk":
        return zendesk_api.ZendeskClient(installation.base_url, installation.api_token)
    return ChatwootClient(installation.base_url, installation.api_token)


def assess(container: Container, heard: HeardConversation) -> None:
    """The conversation as it now stands (its earlier messages fetched first when Tactful started listening
    mid-way and Chatwoot's API is configured): flags and gaps stored, the query vector cached."""
    try:
        complete = container.history.complete(heard, fetcher_for=lambda: _installation_fetcher(container, heard))
        conversation = container.history.conversation(heard)
        container.assist.assess(conversation)
        log.info("assessed %s: %d messages, history %s", heard.id, len(conversation.messages),
                 "complete" if complete else "partial")  # fmt: skip
    except Exception:  # a background task has nobody to answer: log it, keep serving
        log.exception("assessing %s from a %s webhook failed", heard.id, heard.source)
