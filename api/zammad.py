"""Zammad, as Tactful reads and writes it: trigger webhooks in, internal notes out.

A trigger webhook carries ``{"ticket": {...}, "article": {...}}`` with ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the
raw body>`` and ``X-Zammad-Delivery`` (stable across Zammad's retries). A customer's article feeds the customer's
state and the gaps; an agent's is tone-checked; internal notes and system articles are not the conversation.
Notes go back through ``POST /api/v1/ticket_articles`` with ``Authorization: Token token=…``.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
from datetime import datetime
from typing import Any

import httpx

from api.errors import ApiError
from api.persistence.history_repo import NewMessage
from api.services.history import HeardConversation
from assist.errors import HelpdeskUnavailable, InvalidInput
from assist.models import MAX_TEXT_CHARS

AGENT_ROLES = {"Agent", "Admin"}  # Zammad's role names (a user's ``roles`` with ?expand=true)
SENDERS = {"Customer": "customer", "Agent": "agent"}
CHANNELS = {"email": "email", "phone": "phone", "sms": "sms", "web": "chat", "chat": "chat", "note": "chat",
            "twitter status": "social", "twitter direct-message": "social", "facebook feed post": "social",
            "facebook feed comment": "social", "telegram personal-message": "chat"}  # fmt: skip
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<\s*(?:br|/p|/div|/li)\s*/?>", re.IGNORECASE)


class SignatureError(ValueError):
    """A webhook whose ``X-Hub-Signature`` is missing or does not match its body (answered 401)."""


def sign(secret: str, body: bytes) -> str:
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def verify(secret: str, body: bytes, *, signature: str) -> None:
    """Zammad's ``X-Hub-Signature``, compared in constant time on the raw bytes."""
    if not signature:
        raise SignatureError("X-Hub-Signature is missing: set the webhook's HMAC secret in Zammad")
    if not hmac.compare_digest(signature.strip(), sign(secret, body)):
        raise SignatureError("X-Hub-Signature does not match the body")


def conversation_id(installation_id: str, ticket_id: object) -> str:
    return f"zammad-{installation_id}-{ticket_id}"


def plain_text(body: str, content_type: str) -> str:
    """An article's body as text (Zammad sends e-mails and web articles as HTML)."""
    if "html" not in content_type.lower():
        return body.strip()
    text = _TAG.sub("", _BREAK.sub("\n", body))
    return re.sub(r"\n{3,}", "\n\n", html.unescape(text)).strip()


def _dict(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be an object", field=field)
    return value


def heard_from_trigger(payload: object, *, installation_id: str) -> HeardConversation | None:
    """What a trigger webhook says: the ticket's article as a new message. None for internal notes, system
    articles and empty bodies. ``InvalidInput`` names the field of a payload Zammad would not send."""
    data = _dict(payload, "body")
    ticket = _dict(data.get("ticket"), "ticket")
    article = _dict(data.get("article"), "article")
    ticket_id = ticket.get("id", article.get("ticket_id"))
    if ticket_id is None or not str(ticket_id).isdigit():
        raise InvalidInput("ticket.id must be the ticket's number", field="ticket.id")
    if article.get("id") is None:
        raise InvalidInput("article.id is missing", field="article.id")
    role = SENDERS.get(str(article.get("sender")))
    body = article.get("body")
    if not isinstance(body, str):
        raise InvalidInput("article.body must be text", field="article.body")
    text = plain_text(body, str(article.get("content_type") or "text/plain"))[:MAX_TEXT_CHARS]
    if role is None or article.get("internal") is True or not text:
        return None
    at = _when(article.get("created_at"))
    found = ticket.get("customer")
    customer: dict[str, Any] = found if isinstance(found, dict) else {}
    name = " ".join(str(customer.get(k) or "") for k in ("firstname", "lastname")).strip() or None
    return HeardConversation(
        id=conversation_id(installation_id, ticket_id),
        source="zammad",
        messages=[NewMessage(message_id=str(article["id"])[:100], role=role, text=text, at=at)],
        meta={
            "channel": CHANNELS.get(str(article.get("type") or "").lower(), "chat"),
            "customer": {"id": str(ticket.get("customer_id")) if ticket.get("customer_id") else None, "name": name},
        },
        locator={"installation_id": installation_id, "ticket_id": str(ticket_id)},
    )


def _when(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput("article.created_at must be ISO-8601", field="article.created_at") from exc


class ZammadClient:
    """Zammad's REST API with an installation's token."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def agent_of_ticket(self, *, ticket_id: str, agent_id: str) -> str | None:
        """Check, with the installation's token, that the ticket exists and that ``agent_id`` is an active user with
        the Agent (or Admin) role and, when Zammad lists them, access to the ticket's group; the agent's name.
        ``ApiError`` (403) when Zammad says no, ``HelpdeskUnavailable`` when it does not answer."""
        ticket = self._get(f"/api/v1/tickets/{ticket_id}", refused="Zammad does not show this ticket to the "
                           "installation's token", field="conversation_id")  # fmt: skip
        user = self._get(f"/api/v1/users/{agent_id}?expand=true", refused=f"Zammad has no user {agent_id} "
                         "visible to the installation's token", field="agent_id")  # fmt: skip
        if not isinstance(ticket, dict) or not isinstance(user, dict):
            raise HelpdeskUnavailable("Zammad answered something else than a ticket and a user", field="agent_id")
        if user.get("active") is False or not AGENT_ROLES & {str(r) for r in user.get("roles") or []}:
            raise ApiError("forbidden", f"Zammad user {agent_id} is not an active agent", field="agent_id")
        groups = user.get("group_ids")
        if isinstance(groups, dict) and ticket.get("group_id") is not None and str(ticket["group_id"]) not in groups:
            raise ApiError("forbidden", f"Zammad agent {agent_id} has no access to this ticket's group",
                           field="agent_id")  # fmt: skip
        name = " ".join(str(user.get(k) or "") for k in ("firstname", "lastname")).strip()
        return name[:200] or None

    def _get(self, path: str, *, refused: str, field: str) -> Any:
        url = f"{self.base_url}{path}"
        try:
            response = httpx.get(url, headers={"Authorization": f"Token token={self.token}"}, timeout=self.timeout_s)
            response.raise_for_status()
            return response.json()
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code in (401, 403, 404):
                raise ApiError("forbidden", f"{refused} ({exc.response.status_code})", field=field) from exc
            raise HelpdeskUnavailable(f"Zammad did not answer GET {url}: {exc}", field=field) from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise HelpdeskUnavailable(f"Zammad cannot be reached (GET {url}: {exc})", field=field) from exc

    def add_note(self, ticket_id: str, text: str) -> str:
        """An internal note on the ticket; its article id."""
        url = f"{self.base_url}/api/v1/ticket_articles"
        body = {"ticket_id": int(ticket_id), "body": text, "type": "note", "internal": True}
        try:
            response = httpx.post(
                url, json=body, headers={"Authorization": f"Token token={self.token}"}, timeout=self.timeout_s
            )
            response.raise_for_status()
            return str(response.json()["id"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise HelpdeskUnavailable(
                f"Zammad did not take the note (POST {url}: {exc})", field="conversation_id"
            ) from exc
