"""Zendesk's trigger webhook through the real app: signed (HMAC-SHA256 of timestamp + body, base64), fresh,
deduplicated by invocation id, the README's body parsed (a 4xx naming the field it misses), and the comment
stored and assessed like Zammad's and Chatwoot's messages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from api import zendesk
from api.zendesk import MAX_AGE_S, SignatureError, sign, verify
from tests.conftest import auth, index_small_kb, make_settings
from tests.fake_helpdesks import FakeZendesk

SECRET = "zendesk-hook-secret-1"
README = Path(__file__).resolve().parent.parent / "integrations" / "zendesk" / "README.md"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from api.app import create_app

    settings = make_settings(tmp_path_factory.mktemp("zendesk"), secret_key=Fernet.generate_key().decode())
    with TestClient(create_app(settings)) as c:
        index_small_kb(c.app.state.container)  # type: ignore[attr-defined]
        yield c


@pytest.fixture(scope="module")
def installation(client: TestClient) -> str:
    body = {"kind": "zendesk", "name": "Acme support", "base_url": "https://acme.zendesk.com",
            "webhook_secret": SECRET, "allowed_origins": ["https://acme.zendesk.com"]}  # fmt: skip
    r = client.post("/v1/installations", json=body, headers=auth("admin"))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def trigger_body(ticket: int, comment: int, text: str, *, role: str = "end-user", public: object = "true",
                 **comment_fields: Any) -> dict[str, Any]:  # fmt: skip
    """The body integrations/zendesk/README.md tells the admin's trigger to send, placeholders rendered (Zendesk
    renders them as strings)."""
    author = {"id": "900" if role != "end-user" else "501", "name": "Marco Bianchi" if role != "end-user" else
              "Ada Lovelace", "role": role}  # fmt: skip
    return {
        "ticket": {"id": str(ticket), "channel": "Mail", "locale": "en-US",
                   "requester": {"id": "501", "name": "Ada Lovelace"}},
        "comment": {"id": str(comment), "body": text, "public": public, "created_at": "2026-11-30T10:00:00Z",
                    "author": author, **comment_fields},
    }  # fmt: skip


def deliver(
    client: TestClient,
    installation: str,
    body: dict[str, Any] | bytes,
    *,
    secret: str = SECRET,
    age_s: int = 0,
    invocation: str = "",
    timestamp: str | None = None,
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = timestamp if timestamp is not None else _iso(datetime.now(UTC) - timedelta(seconds=age_s))
    headers = {
        "Content-Type": "application/json",
        zendesk.TIMESTAMP: stamp,
        zendesk.SIGNATURE: sign(secret, raw, stamp),
        zendesk.INVOCATION: invocation or str(uuid.uuid4()),
    }
    return client.post(f"/v1/webhooks/zendesk/{installation}", content=raw, headers=headers)


def _iso(when: datetime) -> str:
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def bundle(client: TestClient, conversation_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/conversations/{conversation_id}", headers=auth("supervisor"))
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def test_the_signature_is_base64_hmac_sha256_of_the_timestamp_and_the_body() -> None:
    body, stamp = b'{"ticket": {"id": "1"}}', "2026-11-30T10:00:00Z"
    expected = base64.b64encode(hmac.new(SECRET.encode(), stamp.encode() + body, hashlib.sha256).digest()).decode()
    assert sign(SECRET, body, stamp) == expected
    now = datetime(2026, 11, 30, 10, 1, tzinfo=UTC).timestamp()
    verify(SECRET, body, signature=expected, timestamp=stamp, now=now)
    for signature, timestamp, at, header in (
        (expected, stamp, now + MAX_AGE_S + 60, zendesk.TIMESTAMP),  # stale
        (expected, "yesterday", now, zendesk.TIMESTAMP),
        ("", stamp, now, zendesk.SIGNATURE),
        (sign("another-secret", body, stamp), stamp, now, zendesk.SIGNATURE),
        (sign(SECRET, body + b" ", stamp), stamp, now, zendesk.SIGNATURE),  # another body
        (sign(SECRET, body, "2026-11-30T10:00:01Z"), stamp, now, zendesk.SIGNATURE),  # another timestamp
        ("sïgnature", stamp, now, zendesk.SIGNATURE),  # not even ASCII: refused, not a 500
    ):
        with pytest.raises(SignatureError) as caught:
            verify(SECRET, body, signature=signature, timestamp=timestamp, now=at)
        assert caught.value.header == header


def test_a_requester_s_comment_is_stored_once_and_an_agent_s_sarcasm_is_flagged(
    client: TestClient, installation: str
) -> None:
    conversation = f"zendesk-{installation}-42"
    asked = trigger_body(42, 1001, "My parcel has not arrived and it is the third time I write!")
    r = deliver(client, installation, asked, invocation="inv-1")
    assert r.status_code == 202 and r.json()["conversation_id"] == conversation, r.text
    again = deliver(client, installation, asked, invocation="inv-1")
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    sarcastic = trigger_body(42, 1002, "Obviously you typed the wrong address. Good luck with that.", role="agent")
    assert deliver(client, installation, sarcastic, invocation="inv-2").status_code == 202
    found = bundle(client, conversation)
    assert [(m["role"], m["text"]) for m in found["conversation"]["messages"]] == [
        ("customer", asked["comment"]["body"]), ("agent", sarcastic["comment"]["body"]),
    ]  # fmt: skip
    assert found["conversation"]["channel"] == "email" and found["conversation"]["language"] == "en"
    assert found["conversation"]["customer"]["name"] == "Ada Lovelace"
    assert "sarcasm" in [f["kind"] for f in found["flags"]]
    private = trigger_body(42, 1003, "internal: check the courier", role="agent", public=False)
    ignored = deliver(client, installation, private)
    assert ignored.status_code == 200 and ignored.json()["status"] == "ignored"
    assert len(bundle(client, conversation)["conversation"]["messages"]) == 2


def test_forged_stale_and_unsigned_requests_are_refused_and_store_nothing(
    client: TestClient, installation: str
) -> None:
    body = trigger_body(43, 2001, "Where is my refund?")
    forged = deliver(client, installation, body, secret="not-the-secret")
    assert forged.status_code == 401 and forged.json()["error"]["field"] == zendesk.SIGNATURE
    stale = deliver(client, installation, body, age_s=MAX_AGE_S + 60)
    assert stale.status_code == 401 and stale.json()["error"]["field"] == zendesk.TIMESTAMP
    unsigned = client.post(f"/v1/webhooks/zendesk/{installation}", json=body)
    assert unsigned.status_code == 401 and unsigned.json()["error"]["field"] == zendesk.TIMESTAMP
    no_signature = client.post(f"/v1/webhooks/zendesk/{installation}", json=body,
                               headers={zendesk.TIMESTAMP: _iso(datetime.now(UTC))})  # fmt: skip
    assert no_signature.status_code == 401 and no_signature.json()["error"]["field"] == zendesk.SIGNATURE
    missing = client.get(f"/v1/conversations/zendesk-{installation}-43", headers=auth("supervisor"))
    assert missing.status_code == 404


def test_an_unknown_installation_or_one_of_another_kind_is_a_404(client: TestClient) -> None:
    body = trigger_body(44, 3001, "Hello?")
    assert deliver(client, "nope", body).status_code == 404
    zammad = {"kind": "zammad", "name": "EU", "base_url": "https://z.example.com", "api_token": "t",
              "webhook_secret": SECRET}  # fmt: skip
    other = client.post("/v1/installations", json=zammad, headers=auth("admin")).json()["id"]
    r = deliver(client, other, body)
    assert r.status_code == 404 and r.json()["error"]["field"] == "installation_id"


def _without(body: dict[str, Any], path: str) -> dict[str, Any]:
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node[part]
    del node[last]
    return body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: _without(b, "ticket"), "ticket"),
        (lambda b: _without(b, "ticket.id"), "ticket.id"),
        (lambda b: b["ticket"].update(id="ABC"), "ticket.id"),
        (lambda b: _without(b, "comment"), "comment"),
        (lambda b: _without(b, "comment.id"), "comment.id"),
        (lambda b: _without(b, "comment.body"), "comment.body"),
        (lambda b: _without(b, "comment.public"), "comment.public"),
        (lambda b: b["comment"].update(public="maybe"), "comment.public"),
        (lambda b: _without(b, "comment.author"), "comment.author"),
        (lambda b: _without(b, "comment.author.role"), "comment.author.role"),
        (lambda b: b["comment"]["author"].update(role="robot"), "comment.author.role"),
        (lambda b: b["comment"].update(created_at="yesterday"), "comment.created_at"),
    ],
)
def test_a_body_missing_a_field_gets_a_422_naming_it(
    client: TestClient, installation: str, change: Any, field: str
) -> None:
    body = trigger_body(45, 4001, "Hello, where is my parcel?")
    change(body)
    r = deliver(client, installation, body)
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    assert client.get(f"/v1/conversations/zendesk-{installation}-45", headers=auth("supervisor")).status_code == 404


def test_a_body_that_is_not_json_is_a_400_naming_it(client: TestClient, installation: str) -> None:
    r = deliver(client, installation, b"{not json")
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"


def test_channels_and_languages_are_read_from_zendesk_s_labels() -> None:
    assert [zendesk.channel(v) for v in ("Mail", "Web Widget", "Voice", "SMS", "Facebook Post", None)] == [
        "email", "chat", "phone", "sms", "social", "chat",
    ]  # fmt: skip
    assert [zendesk.language(v) for v in ("it", "en-US", "pt_BR", "Italiano", "Klingon", "")] == [
        "it", "en", "pt", "it", None, None,
    ]  # fmt: skip


def test_the_readme_documents_every_field_the_webhook_reads() -> None:
    """The trigger body in integrations/zendesk/README.md is the one this module parses."""
    text = README.read_text(encoding="utf-8")
    start = text.index("```json", text.index("## The trigger's body"))
    documented = json.loads(text[start + len("```json") : text.index("```", start + 7)])
    for path in ("ticket.id", "ticket.channel", "ticket.locale", "ticket.requester.name", "comment.id",
                 "comment.body", "comment.public", "comment.created_at", "comment.author.role",
                 "comment.author.name"):  # fmt: skip
        node: Any = documented
        for part in path.split("."):
            assert isinstance(node, dict) and part in node, f"{path} is not in the README's trigger body"
            node = node[part]


def test_the_sidebar_loads_zendesk_s_sdk_only_in_zendesk_mode_and_answers_zendesk_s_signed_post(
    client: TestClient,
) -> None:
    sdk = client.app.state.container.settings.zendesk_sdk_url  # type: ignore[attr-defined]
    plain = client.get("/sidebar")
    assert sdk not in plain.text and "/static/zendesk.js" not in plain.text
    assert plain.headers["content-security-policy"].startswith("script-src 'self'; frame-ancestors ")
    # The signed POST for an unknown installation is refused (tests/test_zendesk_signed.py) but is the same page.
    for page, status in ((client.get("/sidebar?helpdesk=zendesk&installation=abc"), 200),
                         (client.post("/sidebar?helpdesk=zendesk&installation=abc", data={"token": "a.b.c"}), 404)):  # fmt: skip
        assert page.status_code == status
        assert page.text.index(sdk) < page.text.index("/static/sidebar.js") < page.text.index("/static/zendesk.js")
        policy = page.headers["content-security-policy"]
        assert policy.startswith("script-src 'self' https://static.zdassets.com; frame-ancestors ")
        assert "https://*.zendesk.com" in policy.split("frame-ancestors")[1]


def test_a_self_hosted_sdk_needs_no_other_script_origin(tmp_path: Path) -> None:
    from api.app import create_app

    settings = make_settings(tmp_path, zendesk_sdk_url="/static/vendor/zaf_sdk.min.js")
    with TestClient(create_app(settings)) as c:
        page = c.get("/sidebar?helpdesk=zendesk")
        assert '<script src="/static/vendor/zaf_sdk.min.js" defer>' in page.text
        assert page.headers["content-security-policy"].startswith("script-src 'self'; ")
    with pytest.raises(ValueError, match="zendesk_sdk_url"):
        make_settings(tmp_path, zendesk_sdk_url="http://cdn.example.com/zaf.js")


def test_a_suggestion_is_written_back_as_a_private_comment_with_the_installation_s_token(client: TestClient) -> None:
    fake = FakeZendesk()
    try:
        body = {"kind": "zendesk", "name": "Notes", "base_url": fake.url, "webhook_secret": SECRET,
                "api_token": "lead@acme.example/token:zd-api-123"}  # fmt: skip
        installation = client.post("/v1/installations", json=body, headers=auth("admin")).json()["id"]
        note = client.post(f"/v1/conversations/zendesk-{installation}-42/notes", json={"text": "Offer a refund."},
                           headers=auth("agent"))  # fmt: skip
        assert note.status_code == 201 and note.json() == {"helpdesk_note_id": "5001"}
        [(path, authorization, sent)] = fake.updates
        assert path == "/api/v2/tickets/42.json"
        assert base64.b64decode(authorization.removeprefix("Basic ")) == b"lead@acme.example/token:zd-api-123"
        assert sent == {"ticket": {"comment": {"body": "Offer a refund.", "public": False}}}  # never public
        fake.status = 500
        failed = client.post(f"/v1/conversations/zendesk-{installation}-42/notes", json={"text": "Again."},
                             headers=auth("agent"))  # fmt: skip
        assert failed.status_code == 502 and failed.json()["error"]["field"] == "conversation_id"
    finally:
        fake.server.shutdown()


def test_an_oauth_token_is_sent_as_bearer_and_an_installation_without_a_token_cannot_take_notes(
    client: TestClient, installation: str
) -> None:
    assert zendesk.ZendeskClient("https://x.zendesk.com", "oauth-abc")._authorization() == "Bearer oauth-abc"
    r = client.post(f"/v1/conversations/zendesk-{installation}-42/notes", json={"text": "Hi"}, headers=auth("agent"))
    assert r.status_code == 404 and r.json()["error"]["field"] == "conversation_id"


def test_a_ticket_heard_mid_way_has_its_earlier_public_comments_fetched(client: TestClient) -> None:
    token = "lead@acme.example/token:zd-api-456"
    fake = FakeZendesk(authorization="Basic " + base64.b64encode(token.encode()).decode())
    try:
        body = {"kind": "zendesk", "name": "History", "base_url": fake.url, "webhook_secret": SECRET,
                "api_token": token}  # fmt: skip
        installation = client.post("/v1/installations", json=body, headers=auth("admin")).json()["id"]
        fake.tickets["77"] = {"id": 77, "requester_id": 501}
        fake.comments["77"] = [
            {"id": 1, "author_id": 501, "public": True, "plain_body": "My parcel has not arrived.",
             "created_at": "2026-11-30T09:00:00Z"},
            {"id": 2, "author_id": 900, "public": False, "plain_body": "Internal: check the courier",
             "created_at": "2026-11-30T09:05:00Z"},
            {"id": 3, "author_id": 900, "public": True,
             "plain_body": "What a surprise, the courier is late. Good luck with that.",
             "created_at": "2026-11-30T09:10:00Z"},
            {"id": 4, "author_id": 501, "public": True, "plain_body": "Still nothing, this is the third time I write!",
             "created_at": "2026-11-30T10:00:00Z"},
        ]  # fmt: skip
        r = deliver(client, installation, trigger_body(77, 4, "Still nothing, this is the third time I write!"))
        assert r.status_code == 202 and r.json()["history"]["complete"] is False, r.text
        assert fake.gets[0] == "/api/v2/tickets/77.json" and len(fake.gets) == 3  # the ticket, two pages
        found = bundle(client, f"zendesk-{installation}-77")
        messages = [(m["role"], m["text"]) for m in found["conversation"]["messages"]]
        assert messages == [
            ("customer", "My parcel has not arrived."),
            ("agent", "What a surprise, the courier is late. Good luck with that."),
            ("customer", "Still nothing, this is the third time I write!"),
        ]  # the private note left out, the trigger's comment stored once
        assert "sarcasm" in [f["kind"] for f in found["flags"]]
    finally:
        fake.server.shutdown()


def test_a_tampered_body_is_refused_and_a_replay_under_a_new_invocation_id_changes_nothing(
    client: TestClient, installation: str
) -> None:
    raw = json.dumps(trigger_body(46, 5001, "Where is my refund?")).encode()
    stamp = _iso(datetime.now(UTC))
    headers = {"Content-Type": "application/json", zendesk.TIMESTAMP: stamp,
               zendesk.SIGNATURE: sign(SECRET, raw, stamp), zendesk.INVOCATION: "inv-46"}  # fmt: skip
    tampered = raw.replace(b"refund", b"parcel")
    r = client.post(f"/v1/webhooks/zendesk/{installation}", content=tampered, headers=headers)
    assert r.status_code == 401 and r.json()["error"]["field"] == zendesk.SIGNATURE
    missing = client.get(f"/v1/conversations/zendesk-{installation}-46", headers=auth("supervisor"))
    assert missing.status_code == 404
    assert client.post(f"/v1/webhooks/zendesk/{installation}", content=raw, headers=headers).status_code == 202
    # The invocation id is not signed: a captured request sent again under another one stores nothing new.
    replay = client.post(f"/v1/webhooks/zendesk/{installation}", content=raw,
                         headers=headers | {zendesk.INVOCATION: "inv-46-replayed"})  # fmt: skip
    assert replay.status_code == 200 and replay.json()["status"] == "unchanged", replay.text
    assert len(bundle(client, f"zendesk-{installation}-46")["conversation"]["messages"]) == 1
