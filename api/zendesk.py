"""Zendesk, as Tactful reads it: signed trigger webhooks in (the ticket sidebar app lives in integrations/zendesk).

A Zendesk webhook carries whatever JSON its trigger defines: ``integrations/zendesk/README.md`` gives the body the
trigger must send (the ticket, its latest comment and who wrote it). Zendesk signs each request:
``X-Zendesk-Webhook-Signature`` is base64(HMAC-SHA256(secret, ``X-Zendesk-Webhook-Signature-Timestamp`` + raw
body)); ``X-Zendesk-Webhook-Invocation-Id`` is stable across Zendesk's retries. A public comment of the requester
feeds the customer's state and the gaps; an agent's is tone-checked; private comments are not the conversation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from api.persistence.history_repo import NewMessage
from api.services.history import HeardConversation, HistoryUnavailable
from assist.errors import HelpdeskUnavailable, InvalidInput
from assist.models import MAX_TEXT_CHARS

MAX_AGE_S = 300
MAX_COMMENT_PAGES = 5  # a ticket's history is read up to 5 pages of 100 comments (Zendesk's page size)
NAME_CHARS = 200  # Conversation's limit for a customer's or an agent's name
SIGNATURE = "X-Zendesk-Webhook-Signature"
TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
INVOCATION = "X-Zendesk-Webhook-Invocation-Id"
ROLES = {"end-user": "customer", "end_user": "customer", "customer": "customer", "agent": "agent", "admin": "agent"}
# Zendesk's ``via`` (ticket.via renders a label such as "Mail" or "Web Widget"): the words that tell the channel.
_CHANNEL_WORDS = (("mail", "email"), ("voice", "phone"), ("phone", "phone"), ("sms", "sms"), ("text", "sms"),
                  ("twitter", "social"), ("facebook", "social"), ("instagram", "social"))  # fmt: skip
# ticket.requester.language renders the language's name in the account's language; ISO codes pass as they are.
_LANGUAGE_NAMES = {"english": "en", "italian": "it", "italiano": "it", "spanish": "es", "español": "es",
                   "espanol": "es", "polish": "pl", "polski": "pl"}  # fmt: skip
_CODE = re.compile(r"^([a-z]{2})(?:[-_][A-Za-z0-9]+)*$")


class SignatureError(ValueError):
    """The request is not signed by the installation's secret, or too old; ``header`` names what failed."""

    def __init__(self, message: str, header: str) -> None:
        super().__init__(message)
        self.header = header


def sign(secret: str, body: bytes, timestamp: str) -> str:
    """The ``X-Zendesk-Webhook-Signature`` Zendesk sends for ``body`` at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(secret: str, body: bytes, *, signature: str, timestamp: str, now: float | None = None) -> None:
    """Raise ``SignatureError`` unless ``signature`` signs ``timestamp + body`` (constant time) and is fresh."""
    sent_at = _seconds(timestamp)
    if sent_at is None:
        raise SignatureError(f"{TIMESTAMP} is missing or not an ISO-8601 time", TIMESTAMP)
    age = (time.time() if now is None else now) - sent_at
    if abs(age) > MAX_AGE_S:
        raise SignatureError(f"{TIMESTAMP} is {int(age)} s away from now (at most {MAX_AGE_S})", TIMESTAMP)
    if not signature.strip():
        raise SignatureError(f"{SIGNATURE} is missing: give the webhook a signing secret in Zendesk", SIGNATURE)
    # Bytes: compare_digest refuses str with non-ASCII characters, which a forged header may carry.
    if not hmac.compare_digest(signature.strip().encode(), sign(secret, body, timestamp).encode()):
        raise SignatureError(f"{SIGNATURE} does not match the body", SIGNATURE)


def _seconds(timestamp: str) -> float | None:
    """Zendesk's timestamp (ISO-8601, e.g. ``2026-11-30T10:00:00Z``; Unix seconds accepted too)."""
    value = timestamp.strip()
    if value.isdigit():
        return float(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def conversation_id(installation_id: str, ticket_id: object) -> str:
    return f"zendesk-{installation_id}-{ticket_id}"


def _dict(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be an object", field=field)
    return value


def _text(value: object) -> str | None:
    """A placeholder's value: Zendesk renders placeholders as strings, numbers stay numbers."""
    if isinstance(value, bool) or value is None:
        return None
    return str(value).strip() if isinstance(value, str | int) else None


def _public(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidInput("comment.public must be true or false", field="comment.public")


def channel(via: str | None) -> str:
    """Tactful's channel for Zendesk's ``via`` (anything unknown is a chat)."""
    words = (via or "").lower()
    return next((name for word, name in _CHANNEL_WORDS if word in words), "chat")


def language(value: str | None) -> str | None:
    """An ISO 639-1 code from a locale (``en-US``) or a language's name; None: Tactful detects it."""
    if not value:
        return None
    match = _CODE.match(value.strip())
    return match.group(1) if match else _LANGUAGE_NAMES.get(value.strip().lower())


def heard_from_trigger(payload: object, *, installation_id: str) -> HeardConversation | None:
    """What a trigger webhook says: the ticket's latest comment as a new message. None for a private comment or an
    empty body. ``InvalidInput`` names the field the trigger's body misses (README's body)."""
    data = _dict(payload, "body")
    ticket = _dict(data.get("ticket"), "ticket")
    comment = _dict(data.get("comment"), "comment")
    ticket_id = _text(ticket.get("id"))
    if not ticket_id or not ticket_id.isdigit():
        raise InvalidInput("ticket.id must be the ticket's number", field="ticket.id")
    comment_id = _text(comment.get("id"))
    if not comment_id:
        raise InvalidInput("comment.id is missing", field="comment.id")
    body = comment.get("body")
    if not isinstance(body, str):
        raise InvalidInput("comment.body must be text", field="comment.body")
    public = _public(comment.get("public"))
    author = _dict(comment.get("author"), "comment.author")
    role = ROLES.get((_text(author.get("role")) or "").lower())
    if role is None:
        raise InvalidInput("comment.author.role must be end-user, agent or admin", field="comment.author.role")
    text = body.strip()[:MAX_TEXT_CHARS]
    if not public or not text:
        return None
    found = ticket.get("requester")
    requester: dict[str, Any] = found if isinstance(found, dict) else {}
    customer = {
        "id": _text(requester.get("id")) or None,
        "name": (_text(requester.get("name")) or "")[:NAME_CHARS] or None,
    }
    meta: dict[str, Any] = {"channel": channel(_text(ticket.get("channel"))), "customer": customer}
    if role == "agent":
        meta["agent"] = {
            "id": _text(author.get("id")) or None,
            "name": (_text(author.get("name")) or "")[:NAME_CHARS] or None,
        }
    if found := language(_text(ticket.get("locale"))):
        meta["language"] = found
    return HeardConversation(
        id=conversation_id(installation_id, ticket_id),
        source="zendesk",
        messages=[NewMessage(message_id=comment_id[:100], role=role, text=text, at=_when(comment.get("created_at")))],
        meta=meta,
        locator={"installation_id": installation_id, "ticket_id": ticket_id},
    )


def _when(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput("comment.created_at must be ISO-8601", field="comment.created_at") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class ZendeskClient:
    """Zendesk's Support API with an installation's token: ``agent@example.com/token:API_TOKEN`` (an API token, sent
    with Basic authentication as Zendesk asks) or an OAuth access token (sent as a Bearer token)."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def _authorization(self) -> str:
        if "/token:" in self.token:
            return "Basic " + base64.b64encode(self.token.encode("utf-8")).decode("ascii")
        return f"Bearer {self.token}"

    def messages(self, locator: dict[str, str]) -> list[NewMessage]:
        """A ticket's public comments, oldest first, as the conversation (a ``HistoryFetcher``): the requester's are
        the customer's, everyone else's the agents' (an end-user in copy reads as an agent)."""
        ticket_id = locator["ticket_id"]
        ticket = self._get(f"/api/v2/tickets/{ticket_id}.json")
        inner = ticket.get("ticket")
        requester = str(inner.get("requester_id") or "") if isinstance(inner, dict) else ""
        url: str | None = f"/api/v2/tickets/{ticket_id}/comments.json"
        found: list[NewMessage] = []
        for _page in range(MAX_COMMENT_PAGES):
            if not url:
                break
            page = self._get(url)
            for comment in page.get("comments") or []:
                message = _history_message(comment, requester=requester)
                if message is not None:
                    found.append(message)
            url = page.get("next_page") or None
        return sorted(found, key=lambda m: m.at or datetime.min.replace(tzinfo=UTC))

    def _get(self, path: str) -> dict[str, Any]:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        try:
            response = httpx.get(url, headers={"Authorization": self._authorization()}, timeout=self.timeout_s)
            response.raise_for_status()
            data = response.json()
        except httpx.HTTPStatusError as exc:
            raise HistoryUnavailable(f"GET {url}: {exc}", status=exc.response.status_code) from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise HistoryUnavailable(f"GET {url}: {exc}") from exc
        if not isinstance(data, dict):
            raise HistoryUnavailable(f"GET {url}: not a JSON object")
        return data

    def add_private_note(self, ticket_id: str, text: str) -> str:
        """An internal note (a private comment) on the ticket; the comment's id (else the audit's)."""
        url = f"{self.base_url}/api/v2/tickets/{ticket_id}.json"
        body = {"ticket": {"comment": {"body": text, "public": False}}}
        try:
            response = httpx.put(
                url, json=body, headers={"Authorization": self._authorization()}, timeout=self.timeout_s
            )
            response.raise_for_status()
            audit = response.json()["audit"]
            comments = [e for e in audit.get("events") or [] if isinstance(e, dict) and e.get("type") == "Comment"]
            return str(comments[0]["id"] if comments else audit["id"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise HelpdeskUnavailable(
                f"Zendesk did not take the note (PUT {url}: {exc})", field="conversation_id"
            ) from exc


def _history_message(comment: object, *, requester: str) -> NewMessage | None:
    """A listed comment as a message; None for a private or empty one, or one that is not a comment."""
    if not isinstance(comment, dict) or not comment.get("public") or comment.get("id") is None:
        return None
    body = comment.get("plain_body") or comment.get("body")
    text = body.strip()[:MAX_TEXT_CHARS] if isinstance(body, str) else ""
    if not text:
        return None
    try:
        at = _when(comment.get("created_at"))
    except InvalidInput:
        at = None
    role = "customer" if requester and str(comment.get("author_id", "")) == requester else "agent"
    return NewMessage(message_id=str(comment["id"])[:100], role=role, text=text, at=at)
