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
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from api.chatwoot import SignatureError, conversation_from_event, verify
from api.deps import ContainerDep
from api.errors import ApiError
from api.persistence.tables import WebhookDeliveryRow
from api.routes.agent import record_gap_of, store_flags
from assist.models import Conversation
from assist.refine import assist_with_passages

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
    if delivery and not await run_in_threadpool(_first_delivery, container, delivery):
        return JSONResponse({"status": "duplicate", "delivery": delivery}, status_code=200)
    if event.get("event") != "message_created":
        return JSONResponse({"status": "ignored", "reason": f"event {event.get('event')!r}"}, status_code=200)
    try:
        conversation = conversation_from_event(event)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "conversation." + ".".join(str(p) for p in first["loc"])
        raise ApiError("invalid_input", f"{field}: {first['msg']}", field=field) from exc
    if conversation is None:
        return JSONResponse({"status": "ignored", "reason": "not a public text message"}, status_code=200)
    background.add_task(assess, container, conversation)
    return JSONResponse({"status": "accepted", "conversation_id": conversation.id}, status_code=202)


def _first_delivery(container: Any, delivery: str) -> bool:
    try:
        with container.db.session() as s:
            s.add(WebhookDeliveryRow(id=delivery, source="chatwoot"))
        return True
    except IntegrityError:
        return False


def assess(container: Any, conversation: Conversation) -> None:
    """The rules assist of the conversation as it now stands: flags and gaps stored, the query vector cached.
    No suggestion is stored: no agent saw one (acceptance figures count what agents were shown)."""
    try:
        result, _ = assist_with_passages(container.engine, conversation)
        store_flags(container, conversation, result)
        if conversation.messages[-1].role == "customer":
            record_gap_of(container, conversation, result)
    except Exception:  # a background task has nobody to answer: log it, keep serving
        log.exception("assessing %s from a Chatwoot webhook failed", conversation.id)
