"""Chatwoot's webhook payloads (``../shared/INTEGRATIONS.md``): signature check and mapping to a Conversation.

The conversation id is ``chatwoot-<id>``, the one the sidebar uses inside Chatwoot, so the flags raised from
webhooks and the sidebar's assists land on the same conversation.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from assist.models import MAX_MESSAGES, MAX_TEXT_CHARS, Conversation

MAX_AGE_S = 300
_ROLES = {0: "customer", 1: "agent", "incoming": "customer", "outgoing": "agent"}


class SignatureError(ValueError):
    """The request is not signed by the configured secret (or too old); ``header`` names what failed."""

    def __init__(self, message: str, header: str) -> None:
        super().__init__(message)
        self.header = header


def verify(secret: str, body: bytes, *, signature: str, timestamp: str, now: float | None = None) -> None:
    """Raise ``SignatureError`` unless ``signature`` is ``sha256=HMAC(secret, "{timestamp}.{body}")`` and fresh."""
    if not timestamp.strip().isdigit():
        raise SignatureError("X-Chatwoot-Timestamp is missing or not unix seconds", "X-Chatwoot-Timestamp")
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > MAX_AGE_S:
        raise SignatureError(
            f"X-Chatwoot-Timestamp is {int(age)} s away from now (at most {MAX_AGE_S})", "X-Chatwoot-Timestamp"
        )
    expected = hmac.new(secret.encode(), f"{timestamp.strip()}.".encode() + body, hashlib.sha256).hexdigest()
    given = signature.strip().removeprefix("sha256=")
    if not hmac.compare_digest(expected, given):
        raise SignatureError("X-Chatwoot-Signature does not match the body", "X-Chatwoot-Signature")


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Chatwoot-Signature`` value Chatwoot sends for ``body`` at ``timestamp``."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def conversation_from_event(event: dict[str, Any]) -> Conversation | None:
    """The conversation a ``message_created`` event belongs to, the new message last; None when there is
    nothing to assess (a private note, an activity or template message, no text)."""
    role = _ROLES.get(event.get("message_type"))  # type: ignore[arg-type]
    content = event.get("content")
    chat = _dict(event.get("conversation"))
    if event.get("private") or role is None or not isinstance(content, str) or not content.strip():
        return None
    if chat.get("id") is None:
        return None
    messages = []
    seen = False
    for m in chat.get("messages") or []:
        m = _dict(m)
        if m.get("private"):
            continue
        seen = seen or (m.get("id") is not None and m.get("id") == event.get("id"))
        m_role, text = _ROLES.get(m.get("message_type")), m.get("content")  # type: ignore[arg-type]
        if m_role and isinstance(text, str) and text.strip():
            messages.append({"role": m_role, "text": text.strip()[:MAX_TEXT_CHARS]})
    if not seen:
        messages.append({"role": role, "text": content.strip()[:MAX_TEXT_CHARS]})
    meta = _dict(chat.get("meta"))
    sender = _dict(event.get("sender"))
    customer = _dict(meta.get("sender")) or (sender if role == "customer" else {})
    agent = sender if role == "agent" else _dict(meta.get("assignee"))
    attrs = _dict(customer.get("custom_attributes"))
    return Conversation.model_validate(
        {
            "id": f"chatwoot-{chat['id']}",
            "channel": chat.get("channel"),
            "customer": {
                "id": None if customer.get("id") is None else str(customer["id"]),
                "name": customer.get("name") or None,
                "vip": attrs.get("vip") is True,
            },
            "agent": {"id": str(agent["id"]), "name": agent.get("name")} if agent.get("id") is not None else None,
            "messages": messages[-MAX_MESSAGES:],
        }
    )
