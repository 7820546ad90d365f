"""Chatwoot's webhook payloads (``../shared/INTEGRATIONS.md``): signature check, what an event says about a
conversation, and the API call that lists a conversation's messages.

The conversation id is ``chatwoot-<id>``, the one the sidebar uses inside Chatwoot, so the flags raised from
webhooks and the sidebar's assists land on the same conversation.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from api.errors import ApiError, invalid_input
from api.persistence.history_repo import NewMessage
from api.services.history import HeardConversation, HistoryUnavailable
from assist.errors import HelpdeskUnavailable, InvalidInput
from assist.models import MAX_TEXT_CHARS, Conversation

MAX_AGE_S = 300
STARTED_WITHIN_S = 60  # a message this close to the conversation's creation is its first
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


def _when(value: Any, field: str) -> datetime | None:
    """Chatwoot's timestamps: ISO strings in webhooks, Unix seconds in conversation messages and the API."""
    if value is None or value == "":
        return None
    problem = InvalidInput(f"{field}: {value!r} is neither an ISO-8601 time nor Unix seconds", field=field)
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value), tz=UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise problem from exc
    raise problem


def _role(value: Any, field: str) -> str | None:
    """Who wrote a message of this ``message_type`` (None for Chatwoot's other types: activity, template); an event
    Chatwoot would not send (a list, an object, a fraction, a boolean) is ``InvalidInput`` naming the field."""
    if value is None or (isinstance(value, str | int) and not isinstance(value, bool)):
        return _ROLES.get(value) if value is not None else None
    raise InvalidInput(f"{field}: {value!r} is not a Chatwoot message type", field=field)


def _message(m: dict[str, Any], *, field: str) -> NewMessage | None:
    """A public text message of a conversation (None for private notes, activity and template messages)."""
    role = _role(m.get("message_type"), f"{field}.message_type" if field else "message_type")
    text = m.get("content")
    if m.get("private") or role is None or not isinstance(text, str) or not text.strip():
        return None
    at = _when(m.get("created_at"), f"{field}.created_at" if field else "created_at")
    text = text.strip()[:MAX_TEXT_CHARS]
    if m.get("id") is None:
        # No id to tell a redelivery from a new message: the content and its time stand in for it.
        ident = "h" + hashlib.sha256(f"{role}|{at}|{text}".encode()).hexdigest()[:24]
    else:
        ident = str(m["id"])[:100]
    return NewMessage(message_id=ident, role=role, text=text, at=at)


def heard_from_event(event: dict[str, Any], *, prefix: str = "chatwoot") -> HeardConversation | None:
    """What a ``message_created`` event says: the new message (and any earlier ones the payload lists, as older
    payloads and tests did), the conversation's metadata, and whether its first message is among them. None
    when there is nothing to assess (a private note, an activity or template message, no text). ``InvalidInput``
    names the field of an event Chatwoot would not send."""
    chat = _dict(event.get("conversation"))
    new = _message(event, field="")
    if new is None or chat.get("id") is None:
        return None
    listed = chat.get("messages") or []
    if not isinstance(listed, list):
        raise InvalidInput(f"conversation.messages: {listed!r} is not a list", field="conversation.messages")
    carried = [
        found
        for i, m in enumerate(listed)
        if (found := _message(_dict(m), field=f"conversation.messages.{i}")) is not None
    ]
    # Chatwoot lists the new message itself in conversation.messages (with its Unix time): the event's own copy
    # (ISO time) is the same message.
    messages = _timed([m for m in carried if m.message_id != new.message_id] + [new])
    meta = _dict(chat.get("meta"))
    sender = _dict(event.get("sender"))
    customer = _dict(meta.get("sender")) or (sender if new.role == "customer" else {})
    agent = sender if new.role == "agent" else _dict(meta.get("assignee"))
    attrs = _dict(customer.get("custom_attributes"))
    started = _when(chat.get("created_at"), "conversation.created_at")
    first = min((m.at for m in messages if m.at is not None), default=None)
    account = _dict(event.get("account")).get("id", chat.get("account_id"))
    heard = HeardConversation(
        id=f"{prefix}-{chat['id']}",
        source=prefix if prefix == "chatwoot" else "chatwoot-installation",
        messages=messages,
        meta={
            "channel": chat.get("channel") if isinstance(chat.get("channel"), str) else None,
            "customer": {
                "id": None if customer.get("id") is None else str(customer["id"]),
                "name": customer.get("name") or None,
                "vip": attrs.get("vip") is True,
                # Read by the installation's contact-level rules ("customer.plan" looks here too).
                **({"attributes": attrs} if attrs else {}),
            },
            "agent": {"id": str(agent["id"]), "name": agent.get("name")} if agent.get("id") is not None else None,
        },
        starts_conversation=bool(started and first and (first - started).total_seconds() <= STARTED_WITHIN_S),
        locator={"account_id": str(account), "conversation_id": str(chat["id"])} if account is not None else {},
    )
    try:  # the metadata is checked now, while Chatwoot can still be told
        Conversation.model_validate({"id": heard.id, **heard.meta, "messages": [{"role": new.role, "text": new.text}]})
    except ValidationError as exc:
        raise invalid_input(exc, prefix="conversation") from exc
    return heard


def _timed(messages: list[NewMessage]) -> list[NewMessage]:
    """Messages listed without a time take the time of the next one that has one: they came before it (and keep
    their order among equals), so a history sorted by time keeps the payload's order."""
    out: list[NewMessage] = []
    following: datetime | None = None
    for m in reversed(messages):
        if m.at is None and following is not None:
            m = replace(m, at=following)
        following = m.at or following
        out.append(m)
    return out[::-1]


def resolved_conversation(event: dict[str, Any], *, prefix: str = "chatwoot") -> str | None:
    """The conversation a status event resolves (``conversation_status_changed`` or ``conversation_resolved``)."""
    if event.get("event") not in ("conversation_status_changed", "conversation_resolved", "conversation_updated"):
        return None
    if event.get("status") != "resolved" or event.get("id") is None:
        return None
    return f"{prefix}-{event['id']}"


def failure(exc: Exception) -> str:
    """What went wrong with a helpdesk call, in words an agent can read (httpx's own message adds a link to MDN)."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"it answered {exc.response.status_code}"
    if isinstance(exc, httpx.TimeoutException):
        return "it did not answer in time"
    if isinstance(exc, httpx.TransportError):
        return f"it cannot be reached ({exc or type(exc).__name__})"
    return f"its answer was not understood ({type(exc).__name__})"


class ChatwootClient:
    """Chatwoot's API, as far as Tactful reads it: a conversation's messages (``api_access_token`` auth)."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def add_private_note(self, locator: dict[str, str], text: str) -> str:
        """A private note in the conversation (Chatwoot's messages API, ``private: true``); its message id."""
        if not locator.get("account_id") or not locator.get("conversation_id"):
            raise HelpdeskUnavailable(
                "Chatwoot's account of this conversation is unknown (no webhook carried it yet)",
                field="conversation_id",
            )
        url = (
            f"{self.base_url}/api/v1/accounts/{locator['account_id']}/conversations/"
            f"{locator['conversation_id']}/messages"
        )
        body = {"content": text, "message_type": "outgoing", "private": True}
        try:
            response = httpx.post(url, json=body, headers={"api_access_token": self.token}, timeout=self.timeout_s)
            response.raise_for_status()
            return str(response.json()["id"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise HelpdeskUnavailable(
                f"Chatwoot did not take the note: {failure(exc)} (POST {url})", field="conversation_id"
            ) from exc

    def agent_of_conversation(self, *, account_id: str, conversation_id: str, agent_id: str) -> str | None:
        """Check, with the installation's token, that the conversation exists in the account and that ``agent_id``
        is one of the account's agents; the agent's name. ``ApiError`` (403) when Chatwoot says no,
        ``HelpdeskUnavailable`` when it does not answer."""
        account = f"{self.base_url}/api/v1/accounts/{account_id}"
        self._get(f"{account}/conversations/{conversation_id}", refused="Chatwoot does not show this conversation "
                  "to the installation's token", field="conversation_id")  # fmt: skip
        listed = self._get(f"{account}/agents", refused="Chatwoot does not list this account's agents to the "
                           "installation's token", field="account_id")  # fmt: skip
        agents = listed if isinstance(listed, list) else _dict(listed).get("payload") or []
        found = next((a for a in agents if isinstance(a, dict) and str(a.get("id")) == agent_id), None)
        if found is None:
            raise ApiError("forbidden", f"Chatwoot has no agent {agent_id} in account {account_id}", field="agent_id")
        name = found.get("available_name") or found.get("name")
        return str(name)[:200] if name else None

    def _get(self, url: str, *, refused: str, field: str) -> Any:
        try:
            response = httpx.get(url, headers={"api_access_token": self.token}, timeout=self.timeout_s)
            response.raise_for_status()
            return response.json()
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code in (401, 403, 404):
                raise ApiError("forbidden", f"{refused} ({exc.response.status_code})", field=field) from exc
            raise HelpdeskUnavailable(
                f"Chatwoot could not be asked to confirm the agent: {failure(exc)} (GET {url})", field=field
            ) from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise HelpdeskUnavailable(
                f"Chatwoot could not be asked to confirm the agent: {failure(exc)} (GET {url})", field=field
            ) from exc

    def messages(self, locator: dict[str, str]) -> list[NewMessage]:
        url = (
            f"{self.base_url}/api/v1/accounts/{locator['account_id']}/conversations/"
            f"{locator['conversation_id']}/messages"
        )
        try:
            response = httpx.get(url, headers={"api_access_token": self.token}, timeout=self.timeout_s)
            response.raise_for_status()
            listed = _dict(response.json()).get("payload") or []
        except httpx.HTTPStatusError as exc:
            raise HistoryUnavailable(f"{failure(exc)} (GET {url})", status=exc.response.status_code) from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise HistoryUnavailable(f"{failure(exc)} (GET {url})") from exc
        found = [_message(_dict(m), field="payload") for m in listed if isinstance(m, dict)]
        messages = [m for m in found if m is not None]
        return sorted(messages, key=lambda m: m.at or datetime.min.replace(tzinfo=UTC))
