"""Helpdesk installations and Zammad, on SQLite and PostgreSQL, against a fake Zammad REST API on a loopback port:
secrets encrypted and never answered, signed trigger webhooks assessed once, internal notes written back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from api.zammad import sign
from tests.conftest import auth, make_settings
from tests.fake_helpdesks import FakeChatwootNotes, FakeZammad

TOKEN = "zammad-token-abc"
SECRET = "hook-secret-123"


@pytest.fixture
def zammad() -> Iterator[FakeZammad]:
    fake = FakeZammad()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    from api.app import create_app

    settings = make_settings(tmp_path / "data", database_url=database_url, secret_key=Fernet.generate_key().decode())
    with TestClient(create_app(settings)) as client:
        yield client


def _install(app: TestClient, base_url: str) -> dict[str, Any]:
    body = {"kind": "zammad", "name": "Support EU", "base_url": base_url, "api_token": TOKEN,
            "webhook_secret": SECRET, "allowed_origins": ["https://support.example.com"]}  # fmt: skip
    r = app.post("/v1/installations", json=body, headers=auth("admin"))
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def _trigger(ticket: int, article: int, sender: str, body: str, **article_fields: Any) -> bytes:
    payload = {
        "ticket": {"id": ticket, "title": "Parcel", "customer_id": 5, "customer": {"firstname": "Ada", "lastname": "B"}},
        "article": {"id": article, "ticket_id": ticket, "body": body, "content_type": "text/html", "internal": False,
                    "sender": sender, "type": "email", "created_at": "2026-11-30T10:00:00Z", **article_fields},
    }  # fmt: skip
    return json.dumps(payload).encode()


def _deliver(app: TestClient, installation: str, body: bytes, *, delivery: str, secret: str = SECRET) -> Any:
    headers = {"X-Hub-Signature": sign(secret, body), "X-Zammad-Delivery": delivery, "X-Zammad-Trigger": "tactful",
               "Content-Type": "application/json"}  # fmt: skip
    return app.post(f"/v1/webhooks/zammad/{installation}", content=body, headers=headers)


def test_an_installation_keeps_its_secrets_encrypted_and_never_answers_them(
    app: TestClient, zammad: FakeZammad
) -> None:
    created = _install(app, zammad.url)
    assert set(created) == {"id", "kind", "name", "base_url", "allowed_origins", "tone_gate", "app_public_key",
                            "knowledge_scope", "contact_rules", "created_at", "rotated_at"}  # fmt: skip
    listed = app.get("/v1/installations", headers=auth("admin")).json()["items"]
    assert [i["id"] for i in listed] == [created["id"]] and TOKEN not in json.dumps(listed)
    engine = app.app.state.container.db.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT api_token, webhook_secret FROM installations")).one()
    assert TOKEN not in stored[0] and SECRET not in stored[1]
    assert app.get("/v1/installations", headers=auth("agent")).status_code == 403
    assert app.post("/v1/installations", json={}, headers=auth("supervisor")).status_code == 403
    for change, field in (({"kind": "freshdesk"}, "kind"), ({"base_url": "ftp://x"}, "base_url"),
                          ({"allowed_origins": ["not an origin"]}, "allowed_origins.0"),
                          ({"webhook_secret": "short"}, "webhook_secret"), ({"api_token": ""}, "api_token"),
                          ({"tone_gate": {"block_kinds": ["rudeness"]}}, "tone_gate.block_kinds")):  # fmt: skip
        body = {"kind": "zammad", "name": "x", "base_url": zammad.url, "api_token": "t", "webhook_secret": SECRET}
        r = app.post("/v1/installations", json=body | change, headers=auth("admin"))
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (change, r.text)


def test_an_installation_s_origins_may_frame_the_sidebar(app: TestClient, zammad: FakeZammad) -> None:
    before = app.get("/sidebar").headers["content-security-policy"]
    assert "https://support.example.com" not in before
    installation = _install(app, zammad.url)["id"]
    page = app.get("/sidebar")
    assert page.headers["content-security-policy"].endswith("https://support.example.com")
    assert "https://support.example.com" in page.text  # the sidebar accepts its postMessage context too
    app.delete(f"/v1/installations/{installation}", headers=auth("admin"))
    assert "https://support.example.com" not in app.get("/sidebar").headers["content-security-policy"]


def test_zammad_articles_are_verified_stored_once_and_assessed(app: TestClient, zammad: FakeZammad) -> None:
    installation = _install(app, zammad.url)["id"]
    asked = _trigger(42, 1, "Customer", "<p>My parcel has not arrived.<br>It is the <b>third time</b> I write!</p>")
    r = _deliver(app, installation, asked, delivery="d-1")
    assert r.status_code == 202 and r.json()["conversation_id"] == f"zammad-{installation}-42"
    assert _deliver(app, installation, asked, delivery="d-1").json()["status"] == "duplicate"
    sarcastic = _trigger(42, 2, "Agent", "Obviously you typed the wrong address. Good luck with that.")
    assert _deliver(app, installation, sarcastic, delivery="d-2").status_code == 202
    flags = app.get("/v1/flags", headers=auth("supervisor")).json()["items"]
    assert any(f["conversation_id"] == f"zammad-{installation}-42" and f["kind"] == "sarcasm" for f in flags)
    conversation = app.get(f"/v1/conversations/zammad-{installation}-42", headers=auth("supervisor")).json()
    texts = [m["text"] for m in conversation["conversation"]["messages"]]
    assert texts[0] == "My parcel has not arrived.\nIt is the third time I write!"  # HTML read as text
    note = _trigger(42, 3, "Agent", "internal remark", internal=True)
    assert _deliver(app, installation, note, delivery="d-3").json()["status"] == "ignored"


def test_unsigned_tampered_unknown_and_malformed_webhooks_change_nothing(app: TestClient, zammad: FakeZammad) -> None:
    installation = _install(app, zammad.url)["id"]
    body = _trigger(7, 1, "Customer", "Hello?")
    unsigned = app.post(f"/v1/webhooks/zammad/{installation}", content=body)
    assert unsigned.status_code == 401 and unsigned.json()["error"]["field"] == "X-Hub-Signature"
    tampered = _deliver(app, installation, body, delivery="t-1", secret="another-secret")
    assert tampered.status_code == 401
    assert _deliver(app, "nope", body, delivery="t-2").status_code == 404
    malformed = _deliver(app, installation, json.dumps({"ticket": {"id": "x"}, "article": {}}).encode(), delivery="t-3")
    assert malformed.status_code == 422 and malformed.json()["error"]["field"] == "ticket.id"
    missing = app.get(f"/v1/conversations/zammad-{installation}-7", headers=auth("supervisor"))
    assert missing.status_code == 404


def test_rotating_the_webhook_secret_takes_effect_and_deleting_stops_the_webhooks(
    app: TestClient, zammad: FakeZammad
) -> None:
    installation = _install(app, zammad.url)["id"]
    r = app.post(f"/v1/installations/{installation}/rotate", json={"webhook_secret": "new-secret-456"},
                 headers=auth("admin"))  # fmt: skip
    assert r.status_code == 200 and r.json()["rotated_at"]
    body = _trigger(8, 1, "Customer", "Where is my refund?")
    assert _deliver(app, installation, body, delivery="r-1").status_code == 401
    assert _deliver(app, installation, body, delivery="r-2", secret="new-secret-456").status_code == 202
    empty = app.post(f"/v1/installations/{installation}/rotate", json={}, headers=auth("admin"))
    assert empty.status_code == 422
    assert app.delete(f"/v1/installations/{installation}", headers=auth("admin")).status_code == 204
    assert _deliver(app, installation, body, delivery="r-3", secret="new-secret-456").status_code == 404
    assert app.delete(f"/v1/installations/{installation}", headers=auth("admin")).status_code == 404


def test_a_note_is_written_back_to_zammad_and_a_failing_zammad_is_a_502(app: TestClient, zammad: FakeZammad) -> None:
    installation = _install(app, zammad.url)["id"]
    conversation = f"zammad-{installation}-42"
    r = app.post(f"/v1/conversations/{conversation}/notes", json={"text": "Suggested: offer a replacement."},
                 headers=auth("agent"))  # fmt: skip
    assert r.status_code == 201 and r.json() == {"helpdesk_note_id": "701"}
    [(authorization, note)] = zammad.notes
    assert authorization == f"Token token={TOKEN}"
    assert note == {"ticket_id": 42, "body": "Suggested: offer a replacement.", "type": "note", "internal": True}
    zammad.status = 500
    failed = app.post(f"/v1/conversations/{conversation}/notes", json={"text": "again"}, headers=auth("agent"))
    assert failed.status_code == 502 and "Zammad" in failed.json()["error"]["message"]
    unknown = app.post("/v1/conversations/chat-1/notes", json={"text": "x"}, headers=auth("agent"))
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "conversation_id"
    empty = app.post(f"/v1/conversations/{conversation}/notes", json={"text": ""}, headers=auth("agent"))
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "text"


def test_without_a_secret_key_installations_cannot_be_added(tmp_path: Path) -> None:
    from api.app import create_app

    with TestClient(create_app(make_settings(tmp_path / "data"))) as client:
        body = {"kind": "zammad", "name": "x", "base_url": "http://z", "api_token": "t", "webhook_secret": SECRET}
        r = client.post("/v1/installations", json=body, headers=auth("admin"))
        assert r.status_code == 409 and r.json()["error"]["field"] == "TACTFUL_SECRET_KEY"


def test_the_installation_command_adds_lists_rotates_and_removes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from api.cli import main

    assert main(["installation", "key"]) == 0
    key = capsys.readouterr().out.strip()
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TACTFUL_SECRET_KEY", key)
    assert main(["installation", "add", "--kind", "zammad", "--name", "EU", "--base-url", "https://z.example.com",
                 "--api-token", TOKEN, "--webhook-secret", SECRET, "--origin", "https://z.example.com"]) == 0  # fmt: skip
    added = json.loads(capsys.readouterr().out)
    assert added["kind"] == "zammad" and TOKEN not in json.dumps(added)
    assert main(["installation", "list"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == added["id"]
    assert main(["installation", "rotate", added["id"], "--webhook-secret", "rotated-secret"]) == 0
    assert json.loads(capsys.readouterr().out)["rotated_at"]
    assert main(["installation", "add", "--kind", "zammad", "--name", "x", "--base-url", "ftp://bad",
                 "--api-token", "t", "--webhook-secret", SECRET]) == 2  # fmt: skip
    assert "base_url" in capsys.readouterr().err
    assert main(["installation", "remove", added["id"]]) == 0
    assert main(["installation", "remove", added["id"]]) == 1


# --- Chatwoot installations --------------------------------------------------------------------------------


def _chatwoot_event(conversation: int, message: int, text: str) -> dict[str, Any]:
    return {
        "event": "message_created", "id": message, "content": text, "message_type": "incoming",
        "created_at": "2026-11-30T10:00:00Z", "private": False, "account": {"id": 3},
        "sender": {"id": 11, "name": "Ada Byron", "type": "contact"},
        "conversation": {"id": conversation, "account_id": 3, "channel": "Channel::WebWidget",
                         "meta": {"sender": {"id": 11, "name": "Ada Byron"}}, "messages": []},
    }  # fmt: skip


def _chatwoot_installation(app: TestClient, base_url: str, *, token: str = "cw-token", **extra: Any) -> str:
    """A Chatwoot installation whose API is ``base_url`` with ``token`` and whose webhooks are signed with SECRET."""
    body = {"kind": "chatwoot", "name": "Shop", "base_url": base_url, "api_token": token, "webhook_secret": SECRET,
            **extra}  # fmt: skip
    r = app.post("/v1/installations", json=body, headers=auth("admin"))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _chatwoot_headers(raw: bytes, *, delivery: str, stamp: int | None = None) -> dict[str, str]:
    """Chatwoot's webhook headers for ``raw``, signed with SECRET at ``stamp`` (now)."""
    import time

    from api.chatwoot import sign as chatwoot_sign

    at = int(time.time()) if stamp is None else stamp
    return {"Content-Type": "application/json", "X-Chatwoot-Timestamp": str(at),
            "X-Chatwoot-Signature": chatwoot_sign(SECRET, raw, at), "X-Chatwoot-Delivery": delivery}  # fmt: skip


def test_a_chatwoot_installation_has_its_own_webhook_and_takes_private_notes(app: TestClient) -> None:
    from api.chatwoot import sign as chatwoot_sign

    fake = FakeChatwootNotes()
    try:
        installation = _chatwoot_installation(app, fake.url, allowed_origins=["https://app.chatwoot.com"])
        raw = json.dumps(_chatwoot_event(55, 901, "My order never arrived, this is the second time I write.")).encode()
        headers = _chatwoot_headers(raw, delivery="cw-1")
        stamp = int(headers["X-Chatwoot-Timestamp"])
        r = app.post(f"/v1/webhooks/chatwoot/{installation}", content=raw, headers=headers)
        assert r.status_code == 202 and r.json()["conversation_id"] == f"chatwoot-{installation}-55"
        forged = headers | {
            "X-Chatwoot-Signature": chatwoot_sign("other-secret", raw, stamp),
            "X-Chatwoot-Delivery": "x",
        }
        assert app.post(f"/v1/webhooks/chatwoot/{installation}", content=raw, headers=forged).status_code == 401
        note = app.post(f"/v1/conversations/chatwoot-{installation}-55/notes", json={"text": "Offer a refund."},
                        headers=auth("agent"))  # fmt: skip
        assert note.status_code == 201 and note.json() == {"helpdesk_note_id": "9001"}
        [(path, token, sent)] = fake.notes
        assert path == "/api/v1/accounts/3/conversations/55/messages" and token == "cw-token"
        assert sent == {"content": "Offer a refund.", "message_type": "outgoing", "private": True}
        # A Zammad installation's id is not a Chatwoot one.
        zammad = _install(app, "http://127.0.0.1:9")["id"]
        assert app.post(f"/v1/webhooks/chatwoot/{zammad}", content=raw, headers=headers).status_code == 404
    finally:
        fake.server.shutdown()


def test_a_posted_chatwoot_context_is_read_again_and_refused_when_the_token_cannot_see_it(app: TestClient) -> None:
    fake = FakeChatwootNotes()
    try:
        installation = _chatwoot_installation(app, fake.url)
        fake.visible["/api/v1/accounts/3/conversations/77/messages"] = [
            {"id": 1, "content": "My parcel is late.", "message_type": 0, "private": False, "created_at": 1764496800},
            {
                "id": 2,
                "content": "Internal: check courier",
                "message_type": 1,
                "private": True,
                "created_at": 1764496860,
            },
            {"id": 3, "content": "Let me check.", "message_type": 1, "private": False, "created_at": 1764496920},
        ]
        asked = {"kind": "chatwoot", "installation_id": installation, "account_id": "3", "conversation_id": "77"}
        r = app.post("/v1/helpdesk/context", json=asked, headers=auth("agent"))
        assert r.status_code == 200, r.text
        seen = r.json()
        assert seen["conversation_id"] == f"chatwoot-{installation}-77"
        assert [(m["role"], m["text"]) for m in seen["messages"]] == [
            ("customer", "My parcel is late."), ("agent", "Let me check.")
        ]  # fmt: skip
        foreign = app.post("/v1/helpdesk/context", json=asked | {"conversation_id": "78"}, headers=auth("agent"))
        assert foreign.status_code == 403 and foreign.json()["error"]["field"] == "conversation_id"
        bad = app.post("/v1/helpdesk/context", json=asked | {"conversation_id": "77; drop"}, headers=auth("agent"))
        assert bad.status_code == 422
        fake.server.shutdown()
        fake.server.server_close()
        down = app.post("/v1/helpdesk/context", json=asked, headers=auth("agent"))
        assert down.status_code == 502
        unset = app.post("/v1/helpdesk/context", json=asked | {"installation_id": None}, headers=auth("agent"))
        assert unset.status_code == 404 and unset.json()["error"]["field"] == "installation_id"
    finally:
        fake.server.shutdown()


def test_a_chatwoot_installation_s_conversation_heard_mid_way_is_fetched_with_its_own_token(app: TestClient) -> None:
    fake = FakeChatwootNotes(token="shop-token")
    try:
        installation = _chatwoot_installation(app, fake.url, token="shop-token")
        earlier = [
            {"id": 1, "content": "My parcel has not arrived.", "message_type": 0, "private": False,
             "created_at": 1764496800},
            {"id": 2, "content": "What a surprise, the courier is late. Good luck with that.", "message_type": 1,
             "private": False, "created_at": 1764496860},
        ]  # fmt: skip
        fake.visible["/api/v1/accounts/3/conversations/88/messages"] = earlier
        raw = json.dumps(_chatwoot_event(88, 903, "Still nothing, this is the third time I write!")).encode()
        r = app.post(
            f"/v1/webhooks/chatwoot/{installation}", content=raw, headers=_chatwoot_headers(raw, delivery="cw-88")
        )
        assert r.status_code == 202 and r.json()["history"]["complete"] is False
        assert fake.gets == ["/api/v1/accounts/3/conversations/88/messages"]  # with the installation's token
        found = app.get(f"/v1/conversations/chatwoot-{installation}-88", headers=auth("supervisor")).json()
        texts = [m["text"] for m in found["conversation"]["messages"]]
        assert texts[:2] == [earlier[0]["content"], earlier[1]["content"]] and len(texts) == 3
        assert "sarcasm" in [f["kind"] for f in found["flags"]]  # the fetched agent reply was assessed
    finally:
        fake.server.shutdown()


def test_a_zammad_webhook_tampered_replayed_or_not_json_changes_nothing(app: TestClient, zammad: FakeZammad) -> None:
    installation = _install(app, zammad.url)["id"]
    body = _trigger(8, 1, "Customer", "Where is my refund?")
    headers = {"X-Hub-Signature": sign(SECRET, body), "X-Zammad-Delivery": "z-1", "X-Zammad-Trigger": "tactful",
               "Content-Type": "application/json"}  # fmt: skip
    tampered = app.post(f"/v1/webhooks/zammad/{installation}", content=body.replace(b"refund", b"parcel"),
                        headers=headers)  # fmt: skip
    assert tampered.status_code == 401 and tampered.json()["error"]["field"] == "X-Hub-Signature"
    missing = app.get(f"/v1/conversations/zammad-{installation}-8", headers=auth("supervisor"))
    assert missing.status_code == 404
    assert app.post(f"/v1/webhooks/zammad/{installation}", content=body, headers=headers).status_code == 202
    # Zammad signs the body only (no timestamp): a captured delivery sent again, under its own or another delivery
    # id, stores nothing new.
    again = app.post(f"/v1/webhooks/zammad/{installation}", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    replay = app.post(
        f"/v1/webhooks/zammad/{installation}", content=body, headers=headers | {"X-Zammad-Delivery": "z-9"}
    )
    assert replay.status_code == 200 and replay.json()["status"] == "unchanged", replay.text
    stored = app.get(f"/v1/conversations/zammad-{installation}-8", headers=auth("supervisor")).json()
    assert len(stored["conversation"]["messages"]) == 1
    not_json = _deliver(app, installation, b"{not json", delivery="z-2")
    assert not_json.status_code == 400 and not_json.json()["error"]["field"] == "body"


def test_a_chatwoot_installation_refuses_tampered_webhooks_and_unknown_installations(app: TestClient) -> None:
    import time

    from api.chatwoot import sign as chatwoot_sign

    fake = FakeChatwootNotes()
    try:
        installation = _chatwoot_installation(app, fake.url)
        raw = json.dumps(_chatwoot_event(56, 902, "My order never arrived.")).encode()
        headers = _chatwoot_headers(raw, delivery="cw-t")
        stamp = int(headers["X-Chatwoot-Timestamp"])
        tampered = app.post(f"/v1/webhooks/chatwoot/{installation}", content=raw.replace(b"never", b"finally"),
                            headers=headers)  # fmt: skip
        assert tampered.status_code == 401 and tampered.json()["error"]["field"] == "X-Chatwoot-Signature"
        unsigned = app.post(f"/v1/webhooks/chatwoot/{installation}", content=raw,
                            headers={"Content-Type": "application/json"})  # fmt: skip
        assert unsigned.status_code == 401
        stale = int(time.time()) - 3600
        old = headers | {"X-Chatwoot-Timestamp": str(stale), "X-Chatwoot-Signature": chatwoot_sign(SECRET, raw, stale)}
        assert app.post(f"/v1/webhooks/chatwoot/{installation}", content=raw, headers=old).status_code == 401
        missing = app.get(f"/v1/conversations/chatwoot-{installation}-56", headers=auth("supervisor"))
        assert missing.status_code == 404
        malformed = app.post(f"/v1/webhooks/chatwoot/{installation}", content=b"{not json",
                             headers=headers | {"X-Chatwoot-Signature": chatwoot_sign(SECRET, b"{not json", stamp)})  # fmt: skip
        assert malformed.status_code == 400
        # An installation Tactful does not know: 404 on every route that names one.
        assert app.post("/v1/webhooks/chatwoot/nope", content=raw, headers=headers).status_code == 404
        asked = {"kind": "chatwoot", "installation_id": "nope", "account_id": "3", "conversation_id": "56"}
        context = app.post("/v1/helpdesk/context", json=asked, headers=auth("agent"))
        assert context.status_code == 404 and context.json()["error"]["field"] == "installation_id"
        note = app.post("/v1/conversations/chatwoot-nope-56/notes", json={"text": "x"}, headers=auth("agent"))
        assert note.status_code == 404
        assert fake.gets == [] and fake.notes == []  # nothing reached Chatwoot
    finally:
        fake.stop()
