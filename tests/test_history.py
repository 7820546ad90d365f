"""Conversation history heard from helpdesk webhooks: stored once per message id, ordered by time, bounded,
merged into what a sidebar posts, forgotten after retention. On SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.persistence import history_repo
from api.persistence.database import Database
from api.persistence.history_repo import NewMessage
from api.services.history import ConversationHistory, HeardConversation, _earlier
from assist.errors import Conflict
from assist.models import Conversation

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def heard(conversation_id: str, *messages: tuple[str, str, str, int], starts: bool = False) -> HeardConversation:
    return HeardConversation(
        id=conversation_id,
        source="chatwoot",
        messages=[NewMessage(mid, role, text, T0 + timedelta(minutes=m)) for mid, role, text, m in messages],
        meta={"customer": {"name": "Ada"}},
        starts_conversation=starts,
    )


@pytest.fixture
def history(database_url: str) -> ConversationHistory:
    return ConversationHistory(Database(database_url), limit=5, retention=timedelta(days=30))


def texts(history: ConversationHistory, conversation_id: str) -> list[str]:
    with history.db.session() as s:
        return [m.text for m in history_repo.load_messages(s, conversation_id, limit=100)]


def test_messages_are_stored_once_and_read_back_in_time_order(history: ConversationHistory) -> None:
    first = history.record(heard("c1", ("1", "customer", "Where is my parcel?", 0), starts=True))
    assert (first.stored, first.messages, first.complete) == (1, 1, True)
    history.record(heard("c1", ("3", "customer", "Hello??", 10)))
    late = history.record(heard("c1", ("2", "agent", "Checking now.", 5)))
    assert late.reordered == 1
    again = history.record(heard("c1", ("2", "agent", "Checking now.", 5)))
    assert (again.stored, again.duplicates) == (0, 1)
    assert texts(history, "c1") == ["Where is my parcel?", "Checking now.", "Hello??"]
    conversation = history.conversation(heard("c1"))
    assert conversation.customer.name == "Ada" and conversation.messages[0].at == T0


def test_an_id_that_comes_back_with_other_content_is_a_conflict_and_changes_nothing(
    history: ConversationHistory,
) -> None:
    history.record(heard("c2", ("1", "customer", "My card was charged twice.", 0)))
    with pytest.raises(Conflict) as raised:
        history.record(heard("c2", ("1", "customer", "Something else.", 0), ("2", "customer", "And more.", 1)))
    assert raised.value.field == "id"
    assert texts(history, "c2") == ["My card was charged twice."]


def test_only_the_last_messages_are_kept(history: ConversationHistory) -> None:
    many = [(str(i), "customer", f"message {i}", i) for i in range(8)]
    recorded = history.record(heard("c3", *many))
    assert recorded.messages == 5 and recorded.dropped == 3
    assert texts(history, "c3") == [f"message {i}" for i in range(3, 8)]


def test_resolved_conversations_are_forgotten_after_retention_and_others_after_silence(
    history: ConversationHistory,
) -> None:
    history.record(heard("c4", ("1", "customer", "Thanks, solved.", 0)))
    history.record(heard("c5", ("1", "customer", "Still waiting.", 0)))
    now = datetime.now(UTC)
    assert history.resolve("c4", at=now - timedelta(days=31))
    assert not history.resolve("never-heard")
    assert history.purge(now=now) == 1
    assert texts(history, "c4") == [] and texts(history, "c5") == ["Still waiting."]
    assert history.purge(now=now + timedelta(days=31)) == 1
    assert texts(history, "c5") == []


def test_a_new_message_reopens_a_resolved_conversation(history: ConversationHistory) -> None:
    history.record(heard("c6", ("1", "customer", "Solved, thanks.", 0)))
    history.resolve("c6", at=datetime.now(UTC) - timedelta(days=40))
    history.record(heard("c6", ("2", "customer", "Actually it broke again.", 60)))
    assert history.purge(now=datetime.now(UTC)) == 0
    assert texts(history, "c6") == ["Solved, thanks.", "Actually it broke again."]


def test_what_a_sidebar_posts_gets_the_earlier_turns_in_front(history: ConversationHistory) -> None:
    history.record(
        heard(
            "c7",
            ("1", "customer", "Parcel late.", 0),
            ("2", "agent", "Checking.", 1),
            ("3", "customer", "Any news?", 2),
        )
    )
    posted = Conversation.model_validate({"id": "c7", "messages": [{"role": "customer", "text": "Any news?"}]})
    assert [m.text for m in history.merged(posted).messages] == ["Parcel late.", "Checking.", "Any news?"]
    newer = Conversation.model_validate({"id": "c7", "messages": [{"role": "customer", "text": "Hello?"}]})
    assert [m.text for m in history.merged(newer).messages] == ["Parcel late.", "Checking.", "Any news?", "Hello?"]
    unknown = Conversation.model_validate({"id": "other", "messages": [{"role": "customer", "text": "Hi"}]})
    assert history.merged(unknown) is unknown


@pytest.mark.parametrize(
    ("stored", "posted", "earlier"),
    [
        (["a", "b", "c"], ["b", "c", "d"], ["a"]),  # overlap at the end of the history
        (["a", "b", "c"], ["a", "b", "c", "d"], []),  # the sidebar already has everything
        (["a", "b"], ["z"], ["a", "b"]),  # nothing in common: the history comes first
        (["a", "b", "c"], ["b", "x"], ["a"]),  # the first posted turn found inside the history
        (["a", "b", "c"], ["x", "b"], []),  # a known turn posted after an unknown one: nothing added
    ],
)
def test_the_earlier_turns_are_found_by_overlap(stored: list[str], posted: list[str], earlier: list[str]) -> None:
    def turns(xs: list[str]) -> list[tuple[str, str]]:
        return [("customer", x) for x in xs]

    assert _earlier(turns(stored), turns(posted)) == turns(earlier)
