"""Conversation history heard from helpdesk webhooks, so that every assessment sees the conversation as it stands.

Helpdesks send one message per webhook (Chatwoot's ``message_created`` carries only the latest message in
``conversation.messages``; Zammad's trigger payload carries one article). Each message is stored under its
conversation once per helpdesk message id, and the conversation is rebuilt from what is stored. A conversation
first heard mid-way is incomplete: with the helpdesk's API configured, its earlier messages are fetched.

What is kept is bounded: the last ``history_messages`` messages of a conversation, and its whole history is deleted
``history_retention_days`` after it was resolved (or after its last message, if it never was).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from api.persistence import history_repo as repo
from api.persistence.database import Database
from api.persistence.history_repo import NewMessage
from api.persistence.tables import utcnow
from assist.models import Conversation, Message

log = logging.getLogger("tactful.history")
PURGE_EVERY_S = 3600.0


@dataclass(frozen=True)
class HeardConversation:
    """What one webhook event says about a conversation: its metadata and the messages it carries (new one last)."""

    id: str
    source: str
    messages: list[NewMessage]
    meta: dict[str, Any] = field(default_factory=dict)  # channel, customer, agent: as Conversation takes them
    starts_conversation: bool = False  # the first message carried is the conversation's first
    locator: dict[str, str] = field(default_factory=dict)  # what the helpdesk's API needs to find it
    dropped: int = 0  # messages the payload carried beyond what is kept


@dataclass(frozen=True)
class Recorded:
    """What storing one event did, and what the assessment will see (answered to the helpdesk)."""

    stored: int
    duplicates: int
    reordered: int
    dropped: int
    messages: int
    complete: bool
    redelivered: bool = False  # the delivery id was taken before: nothing was stored

    def summary(self) -> dict[str, Any]:
        return {
            "stored": self.stored, "duplicates": self.duplicates, "reordered": self.reordered,
            "dropped": self.dropped, "messages": self.messages, "complete": self.complete,
        }  # fmt: skip


class HistoryFetcher(Protocol):
    """A helpdesk API that lists a conversation's messages (oldest first)."""

    def messages(self, locator: dict[str, str]) -> list[NewMessage]: ...


class ConversationHistory:
    def __init__(
        self, db: Database, *, limit: int, retention: timedelta, fetchers: dict[str, HistoryFetcher] | None = None
    ) -> None:
        self.db = db
        self.limit = limit
        self.retention = retention
        self.fetchers = fetchers or {}
        self._purged_at = 0.0
        self._purge_lock = threading.Lock()

    def record(self, heard: HeardConversation, *, delivery: str | None = None) -> Recorded:
        """Store the event's messages (idempotent by message id); ``Conflict`` when an id comes back changed.
        ``delivery`` (the helpdesk's delivery id) is taken in the same transaction: a delivery that failed here
        can be delivered again."""
        for attempt in (1, 2):
            try:
                with self.db.session() as s:
                    if delivery is not None and not repo.take_delivery(s, delivery, source=heard.source):
                        return Recorded(0, 0, 0, 0, 0, False, redelivered=True)
                    row = repo.ensure_conversation(
                        s, heard.id, source=heard.source, complete=heard.starts_conversation, locator=heard.locator
                    )
                    repo.reopen(s, heard.id)
                    added = repo.add_messages(s, heard.id, heard.messages, limit=self.limit)
                    count = repo.count_messages(s, heard.id)
                    complete = row.complete
                break
            except IntegrityError:  # a concurrent delivery stored the same rows first: once more sees them
                if attempt == 2:
                    raise
        self._purge_now_and_then()
        return Recorded(added.stored, added.duplicates, added.reordered, heard.dropped + added.trimmed, count, complete)

    def complete(
        self, heard: HeardConversation, *, fetcher_for: Callable[[], HistoryFetcher | None] | None = None
    ) -> bool:
        """Fetch the earlier messages of a conversation heard mid-way, where the helpdesk's API is configured (the
        installation's, from ``fetcher_for``, asked only when a fetch is needed; else the one configured for the
        source). Whether the history is now complete."""
        with self.db.session() as s:
            row = repo.conversation_state(s, heard.id)
            if row is None or row.complete:
                return row is not None
        fetcher = (fetcher_for() if fetcher_for else None) or self.fetchers.get(heard.source)
        if fetcher is None or not heard.locator:
            return False
        try:
            earlier = fetcher.messages(heard.locator)
        except HistoryUnavailable as exc:
            log.warning("history of %s not fetched: %s", heard.id, exc)
            return False
        with self.db.session() as s:
            repo.add_messages(s, heard.id, earlier[-self.limit :], limit=self.limit)
            row = repo.conversation_state(s, heard.id)
            if row is not None:
                row.complete, row.fetched_at = True, utcnow()
        return True

    def conversation(self, heard: HeardConversation) -> Conversation:
        """The conversation as it stands: its stored messages and the event's metadata."""
        with self.db.session() as s:
            rows = repo.load_messages(s, heard.id, limit=self.limit)
            messages = [{"role": r.role, "text": r.text, "at": repo.aware(r.at)} for r in rows]
        return Conversation.model_validate({"id": heard.id, **heard.meta, "messages": messages})

    def merged(self, conversation: Conversation) -> Conversation:
        """``conversation`` (as a sidebar posts it) with the earlier turns heard from webhooks put before it."""
        with self.db.session() as s:
            if repo.conversation_state(s, conversation.id) is None:
                return conversation
            rows = repo.load_messages(s, conversation.id, limit=self.limit)
            stored = [(r.role, r.text.strip()) for r in rows]
        posted = [(m.role, m.text.strip()) for m in conversation.messages]
        earlier = _earlier(stored, posted)
        if not earlier:
            return conversation
        kept = earlier[-(self.limit - len(posted)) :] if len(posted) < self.limit else []
        before = [Message(role=role, text=text) for role, text in kept]  # type: ignore[arg-type]
        return conversation.model_copy(update={"messages": before + list(conversation.messages)})

    def locator(self, conversation_id: str) -> dict[str, str]:
        """Where a conversation heard from a helpdesk lives there (empty when unknown)."""
        with self.db.session() as s:
            row = repo.conversation_state(s, conversation_id)
            return dict(row.locator or {}) if row is not None else {}

    def resolve(self, conversation_id: str, *, at: datetime | None = None) -> bool:
        with self.db.session() as s:
            return repo.mark_resolved(s, conversation_id, at=at)

    def purge(self, *, now: datetime | None = None) -> int:
        with self.db.session() as s:
            return repo.purge(s, now=now or utcnow(), retention=self.retention)

    def _purge_now_and_then(self) -> None:
        if time.monotonic() - self._purged_at < PURGE_EVERY_S or not self._purge_lock.acquire(blocking=False):
            return
        try:
            self._purged_at = time.monotonic()
            forgotten = self.purge()
            if forgotten:
                log.info("forgot the history of %d conversations past retention", forgotten)
        finally:
            self._purge_lock.release()


class HistoryUnavailable(Exception):
    """The helpdesk's API did not give the conversation's messages; ``status`` is its HTTP answer, when it gave one
    (401/403/404: the token may not see that conversation)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _earlier(stored: Sequence[tuple[str, str]], posted: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The stored messages that come before what was posted: the posted turns are found at the end of the stored
    ones (the longest overlap), or, failing that, the first posted turn anywhere in them."""
    for k in range(min(len(stored), len(posted)), 0, -1):
        if list(stored[-k:]) == list(posted[:k]):
            return list(stored[:-k])
    if posted and posted[0] in stored:
        return list(stored[: stored.index(posted[0])])
    if any(p in stored for p in posted):  # the posted turns are already known, in another order: nothing to add
        return []
    return list(stored)
