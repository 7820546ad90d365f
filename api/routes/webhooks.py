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

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from api.chatwoot import SignatureError, heard_from_event, resolved_conversation, verify
from api.container import Container
from api.deps import ContainerDep
from api.errors import ApiError
from api.persistence import history_repo
from api.services.history import HeardConversation

router = APIRouter(prefix="/v1/webhooks", tags=["integrations"])
log = logging.getLogger("tactful.webhooks")


@router.post("/chatwoot", status_code=202)
async def chatwoot(request: Request, background: BackgroundTasks, container: ContainerDep) -> JSONResponse:
    secret = container.settings.chatwoot_webhook_secret.get_secret_value()
    if not secret:
        raise ApiError(
            "forbidden", "Chatwoot webhooks are off: set TACTFUL_CHATWOOT_WEBHOOK_SECRET", field="X-Chatwoot-Signature"
        )
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
        return JSONResponse({"status": "duplicate", "delivery": delivery}, status_code=200)
    resolved = resolved_conversation(event)
    if resolved is not None:
        known = await run_in_threadpool(container.history.resolve, resolved)
        return JSONResponse(
            {"status": "resolved" if known else "ignored", "conversation_id": resolved}, status_code=200
        )
    if event.get("event") != "message_created":
        return JSONResponse({"status": "ignored", "reason": f"event {event.get('event')!r}"}, status_code=200)
    heard = heard_from_event(event)
    if heard is None:
        return JSONResponse({"status": "ignored", "reason": "not a public text message"}, status_code=200)
    # Stored before the answer, in the same transaction as the delivery id, so that nothing Chatwoot was told we
    # took is lost and a failed delivery can be retried; assessed after the answer.
    recorded = await run_in_threadpool(container.history.record, heard, delivery=delivery or None)
    if recorded.redelivered:
        return JSONResponse({"status": "duplicate", "delivery": delivery}, status_code=200)
    if recorded.stored:
        background.add_task(assess, container, heard)
    answer = {"status": "accepted" if recorded.stored else "unchanged", "conversation_id": heard.id,
              "history": recorded.summary()}  # fmt: skip
    return JSONResponse(answer, status_code=202 if recorded.stored else 200)


def _first_delivery(container: Container, delivery: str) -> bool:
    try:
        with container.db.session() as s:
            return history_repo.take_delivery(s, delivery, source="chatwoot")
    except IntegrityError:  # the same delivery, at the same moment
        return False


def assess(container: Container, heard: HeardConversation) -> None:
    """The conversation as it now stands (its earlier messages fetched first when Tactful started listening
    mid-way and Chatwoot's API is configured): flags and gaps stored, the query vector cached."""
    try:
        complete = container.history.complete(heard)
        conversation = container.history.conversation(heard)
        container.assist.assess(conversation)
        log.info("assessed %s: %d messages, history %s", heard.id, len(conversation.messages),
                 "complete" if complete else "partial")  # fmt: skip
    except Exception:  # a background task has nobody to answer: log it, keep serving
        log.exception("assessing %s from a Chatwoot webhook failed", heard.id)
