"""Chatwoot's webhook: signed message events assessed at once (flags, gaps, the query cache), bad ones refused."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.chatwoot import MAX_AGE_S, conversation_from_event, sign
from tests.conftest import auth, index_small_kb, make_settings

SECRET = "whsec-test-0123456789"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from api.app import create_app

    app = create_app(make_settings(tmp_path_factory.mktemp("webhooks"), chatwoot_webhook_secret=SECRET))
    with TestClient(app) as c:
        index_small_kb(app.state.container)
        yield c


def event(conversation_id: int, content: str, *, message_type: str = "incoming", **extra: Any) -> dict[str, Any]:
    """A ``message_created`` body as Chatwoot sends it (../shared/INTEGRATIONS.md)."""
    earlier = [
        {"id": 1, "message_type": 0, "content": "Hello, my parcel has not arrived yet.", "private": False},
        {
            "id": 2,
            "message_type": 1,
            "content": "Obviously the courier is late. Good luck with that.",
            "private": False,
        },
        {"id": 3, "message_type": 1, "content": "internal: customer called twice", "private": True},
    ]
    return {
        "event": "message_created",
        "id": 4,
        "content": content,
        "message_type": message_type,
        "private": False,
        "created_at": "2026-11-25T10:00:00Z",
        "sender": {"id": 9, "name": "Ada Lovelace", "type": "contact"},
        "conversation": {
            "id": conversation_id,
            "channel": "Channel::WebWidget",
            "messages": earlier,
            "meta": {"sender": {"id": 9, "name": "Ada Lovelace"}, "assignee": {"id": 5, "name": "Bob"}},
        },
        **extra,
    }


def post(
    client: TestClient, body: dict[str, Any] | bytes, *, secret: str = SECRET, age: int = 0, delivery: str = ""
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = int(time.time()) - age
    headers = {
        "Content-Type": "application/json",
        "X-Chatwoot-Timestamp": str(stamp),
        "X-Chatwoot-Signature": sign(secret, raw, stamp),
        "X-Chatwoot-Delivery": delivery or str(uuid.uuid4()),
    }
    return client.post("/v1/webhooks/chatwoot", content=raw, headers=headers)


ANGRY = "This is the THIRD time I write!!! I will cancel everything and call my lawyer."


def test_a_customer_message_raises_flags_for_supervisors_without_any_assist(client: TestClient) -> None:
    r = post(client, event(101, ANGRY))
    assert r.status_code == 202 and r.json() == {"status": "accepted", "conversation_id": "chatwoot-101"}
    bundle = client.get("/v1/conversations/chatwoot-101", headers=auth("supervisor")).json()
    kinds = {f["kind"] for f in bundle["flags"]}
    assert {"sarcasm", "frustration_rising", "escalation_risk"} <= kinds
    texts = [m["text"] for m in bundle["conversation"]["messages"]]
    assert texts[-1] == ANGRY and "internal: customer called twice" not in texts  # private notes stay out
    assert bundle["assists"] == []  # no suggestion was shown to anyone


def test_the_sidebar_assist_that_follows_embeds_nothing_new(client: TestClient) -> None:
    post(client, event(102, "Il mio pacco è in ritardo, il tracking è fermo da una settimana."))
    e5 = client.app.state.container.knowledge.retriever.store.embeddings.inner  # type: ignore[attr-defined]
    misses = e5.queries.misses
    messages = [
        {"role": "customer", "text": "Hello, my parcel has not arrived yet."},
        {"role": "agent", "text": "Obviously the courier is late. Good luck with that."},
        {"role": "customer", "text": "Il mio pacco è in ritardo, il tracking è fermo da una settimana."},
    ]
    body = {"conversation": {"id": "chatwoot-102", "messages": messages}, "draft": "Ciao Ada, controllo subito."}
    r = client.post("/v1/assist", json=body, headers=auth("agent"))
    assert r.status_code == 200 and r.json()["next_steps"]
    assert e5.queries.misses == misses


def test_a_redelivered_event_is_acknowledged_once(client: TestClient) -> None:
    delivery = str(uuid.uuid4())
    assert post(client, event(103, ANGRY), delivery=delivery).status_code == 202
    again = post(client, event(103, ANGRY), delivery=delivery)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"event": "conversation_updated", "conversation": {"id": 1}}, "event"),
        (event(104, "internal note", private=True), "not a public text message"),
        (event(104, "Conversation was resolved", message_type="activity"), "not a public text message"),
    ],
)
def test_events_with_nothing_to_assess_are_ignored(client: TestClient, body: dict[str, Any], reason: str) -> None:
    r = post(client, body)
    assert r.status_code == 200 and r.json()["status"] == "ignored" and reason in r.json()["reason"]
    assert client.get("/v1/conversations/chatwoot-104", headers=auth("supervisor")).status_code == 404


def test_unsigned_forged_or_stale_events_are_refused(client: TestClient) -> None:
    r = post(client, event(105, ANGRY), secret="not-the-secret")
    assert r.status_code == 401 and r.json()["error"]["field"] == "X-Chatwoot-Signature"
    r = post(client, event(105, ANGRY), age=MAX_AGE_S + 60)
    assert r.status_code == 401 and r.json()["error"]["field"] == "X-Chatwoot-Timestamp"
    r = client.post("/v1/webhooks/chatwoot", json=event(105, ANGRY))
    assert r.status_code == 401 and r.json()["error"]["field"] == "X-Chatwoot-Timestamp"
    assert client.get("/v1/conversations/chatwoot-105", headers=auth("supervisor")).status_code == 404


def test_a_body_that_is_not_json_gets_a_400_naming_it(client: TestClient) -> None:
    r = post(client, b"{not json")
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"


def test_webhooks_are_off_without_a_secret(kb_app: TestClient) -> None:
    r = kb_app.post("/v1/webhooks/chatwoot", json=event(106, ANGRY))
    assert r.status_code == 403 and "TACTFUL_CHATWOOT_WEBHOOK_SECRET" in r.json()["error"]["message"]


def test_the_new_message_is_not_repeated_when_the_conversation_already_lists_it() -> None:
    body = event(107, "Where is my parcel?")
    body["conversation"]["messages"].append({"id": 4, "message_type": 0, "content": "Where is my parcel?"})
    conversation = conversation_from_event(body)
    assert conversation is not None
    assert [m.text for m in conversation.messages].count("Where is my parcel?") == 1
    assert conversation.customer.name == "Ada Lovelace" and conversation.agent is not None
    assert conversation.agent.name == "Bob"
