"""The pre-send tone gate through the real app: each installation's gate (stored, changed by admins through the API
and the CLI), the check the Zendesk sidebar makes on ``ticket.save`` (``POST /v1/tone`` with ``gate``), and the
events supervisors read (blocked, overridden, unreachable), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from api.services.tone_gate import DEFAULT_BLOCK_KINDS
from tests.conftest import auth, make_settings

SARCASTIC = "Obviously you typed the wrong address. As I already told you twice, the parcel is on its way."
SINCERE = "Hi Ada, I am sorry the parcel is late. I have opened a claim with the courier and will update you tomorrow."


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from api.app import create_app

    settings = make_settings(tmp_path_factory.mktemp("gate"), secret_key=Fernet.generate_key().decode())
    with TestClient(create_app(settings)) as c:
        yield c


def install(client: TestClient, **gate: Any) -> str:
    body: dict[str, Any] = {"kind": "zendesk", "name": "Acme", "base_url": "https://acme.zendesk.com",
                            "webhook_secret": "zendesk-secret-1"}  # fmt: skip
    if gate:
        body["tone_gate"] = gate
    r = client.post("/v1/installations", json=body, headers=auth("admin"))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def check(client: TestClient, installation: str, text: str, *, public: bool = True, ticket: int = 7) -> Any:
    gate = {"installation_id": installation, "conversation_id": f"zendesk-{installation}-{ticket}", "agent": "900",
            "public": public}  # fmt: skip
    r = client.post("/v1/tone", json={"text": text, "gate": gate}, headers=auth("agent"))
    assert r.status_code == 200, r.text
    return r.json()


def events(client: TestClient, **query: str) -> list[dict[str, Any]]:
    r = client.get("/v1/tone-gate/events", params=query, headers=auth("supervisor"))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_a_zendesk_installation_has_the_default_gate_and_admins_change_it(client: TestClient) -> None:
    installation = install(client)
    [listed] = [i for i in client.get("/v1/installations", headers=auth("admin")).json()["items"]
                if i["id"] == installation]  # fmt: skip
    assert listed["tone_gate"] == {"block_kinds": list(DEFAULT_BLOCK_KINDS), "min_score": None,
                                   "allow_override": True, "public_only": True}  # fmt: skip
    gate = {"block_kinds": ["sarcasm"], "min_score": 0.5, "allow_override": False}
    r = client.patch(f"/v1/installations/{installation}", json={"tone_gate": gate}, headers=auth("admin"))
    assert r.status_code == 200 and r.json()["tone_gate"] == gate | {"public_only": True}
    assert r.json()["name"] == "Acme"  # what was left out stays
    for body, field in (({"tone_gate": {"block_kinds": ["rudeness"]}}, "tone_gate.block_kinds"),
                        ({"tone_gate": {"min_score": 2}}, "tone_gate.min_score"), ({}, "body"),
                        ({"api_token": "x"}, "api_token")):  # fmt: skip
        bad = client.patch(f"/v1/installations/{installation}", json=body, headers=auth("admin"))
        assert bad.status_code == 422 and bad.json()["error"]["field"] == field, bad.text
    assert "sarcasm" in client.patch(f"/v1/installations/{installation}", json={"tone_gate": {"block_kinds": ["x"]}},
                                     headers=auth("admin")).json()["error"]["message"]  # fmt: skip
    assert (
        client.patch(f"/v1/installations/{installation}", json={"name": "x"}, headers=auth("agent")).status_code == 403
    )
    assert client.patch("/v1/installations/nope", json={"name": "x"}, headers=auth("admin")).status_code == 404


def test_the_gate_holds_back_a_sarcastic_reply_with_its_spans_and_rewrite_and_records_it(client: TestClient) -> None:
    installation = install(client)
    answer = check(client, installation, SARCASTIC)
    gate = answer["gate"]
    assert gate["blocked"] is True and gate["allow_override"] is True
    assert {i["kind"] for i in gate["issues"]} == {"sarcasm"}  # blame is not a blocking kind by default
    assert "Obviously" in gate["message"] and "As I already told you" in gate["message"]
    assert gate["rewrite"] and gate["rewrite"] in gate["message"] and "Send anyway" in gate["message"]
    assert answer["issues"] and answer["score"] < 1  # the ToneReport is all there
    [event] = events(client, installation_id=installation)
    assert event["id"] == gate["event_id"] and event["kind"] == "blocked" and event["agent"] == "900"
    assert event["conversation_id"] == f"zendesk-{installation}-7" and event["kinds"] == ["sarcasm"]
    assert "Obviously" in event["excerpt"] and "As I already told you" in event["excerpt"]


def test_the_gate_lets_sincere_replies_and_notes_through_and_records_nothing(client: TestClient) -> None:
    installation = install(client)
    sincere = check(client, installation, SINCERE)["gate"]
    assert sincere["blocked"] is False and sincere["issues"] == [] and sincere["event_id"] is None
    assert check(client, installation, SARCASTIC, public=False)["gate"]["blocked"] is False  # an internal note
    assert events(client, installation_id=installation) == []
    plain = client.post("/v1/tone", json={"text": SARCASTIC}, headers=auth("agent")).json()
    assert plain["gate"] is None and plain["issues"]  # without a gate: the tone check as before


def test_each_installation_s_gate_is_its_own(client: TestClient) -> None:
    nothing = install(client, block_kinds=[])
    assert check(client, nothing, SARCASTIC)["gate"]["blocked"] is False
    strict = install(client, block_kinds=[], min_score=0.95, allow_override=False, public_only=False)
    held = check(client, strict, "Please send us the order number.", public=False)["gate"]
    assert held["blocked"] is True and held["issues"] == [] and "minimum of 0.95" in held["message"]
    assert held["allow_override"] is False and "Send anyway" not in held["message"]
    unknown = client.post("/v1/tone", json={"text": SARCASTIC, "gate": {"installation_id": "nope",
                          "conversation_id": "zendesk-nope-1"}}, headers=auth("agent"))  # fmt: skip
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "installation_id"
    missing = client.post("/v1/tone", json={"text": SARCASTIC, "gate": {"installation_id": strict}},
                          headers=auth("agent"))  # fmt: skip
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "gate.conversation_id"


def test_overridden_and_unreachable_events_are_stored_once_and_read_by_supervisors(client: TestClient) -> None:
    installation = install(client)
    conversation = f"zendesk-{installation}-9"
    overridden = {"kind": "overridden", "conversation_id": conversation, "installation_id": installation,
                  "agent": "900", "kinds": ["sarcasm"], "excerpt": "Obviously"}  # fmt: skip
    r = client.post("/v1/tone-gate/events", json=overridden, headers=auth("agent"))
    assert r.status_code == 201 and r.json()["kind"] == "overridden", r.text
    queued = {"id": "evt-unreachable-0001", "kind": "unreachable", "conversation_id": conversation,
              "installation_id": installation, "agent": "900", "occurred_at": "2026-11-30T09:00:00Z"}  # fmt: skip
    first = client.post("/v1/tone-gate/events", json=queued, headers=auth("agent"))
    assert first.status_code == 201 and first.json()["occurred_at"] == "2026-11-30T09:00:00Z"
    retried = client.post("/v1/tone-gate/events", json=queued, headers=auth("agent"))
    assert retried.status_code == 200 and retried.json() == first.json()
    stored = events(client, conversation_id=conversation)
    assert [e["kind"] for e in stored] == ["overridden", "unreachable"]  # newest first (by when it happened)
    assert [e["kind"] for e in events(client, conversation_id=conversation, kind="unreachable")] == ["unreachable"]
    for body, field in (({**queued, "kind": "ignored"}, "kind"), ({**overridden, "conversation_id": ""},
                        "conversation_id"), ({**overridden, "kinds": ["Not A Kind"]}, "kinds.0"),
                        ({**overridden, "id": "x"}, "id")):  # fmt: skip
        bad = client.post("/v1/tone-gate/events", json=body, headers=auth("agent"))
        assert bad.status_code == 422 and bad.json()["error"]["field"] == field, bad.text
    unknown = client.post("/v1/tone-gate/events", json={**overridden, "installation_id": "nope"}, headers=auth("agent"))
    assert unknown.status_code == 404
    assert client.get("/v1/tone-gate/events", headers=auth("agent")).status_code == 403
    assert client.post("/v1/tone-gate/events", json=overridden, headers=auth("supervisor")).status_code == 403


def test_events_and_gates_are_stored_on_sqlite_and_postgresql(tmp_path: Path, database_url: str) -> None:
    from api.app import create_app

    settings = make_settings(tmp_path / "data", database_url=database_url, secret_key=Fernet.generate_key().decode(),
                             tone_learned_sarcasm=False)  # fmt: skip
    with TestClient(create_app(settings)) as c:
        installation = install(c, block_kinds=["sarcasm"], allow_override=False)
        assert check(c, installation, SARCASTIC)["gate"]["blocked"] is True
        body = {"id": "evt-pg-000001", "kind": "unreachable", "conversation_id": "zendesk-x-1"}
        assert c.post("/v1/tone-gate/events", json=body, headers=auth("agent")).status_code == 201
        assert c.post("/v1/tone-gate/events", json=body, headers=auth("agent")).status_code == 200
        assert sorted(e["kind"] for e in events(c)) == ["blocked", "unreachable"]
        [listed] = c.get("/v1/installations", headers=auth("admin")).json()["items"]
        assert listed["tone_gate"]["allow_override"] is False


def test_the_installation_command_sets_the_tone_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from api.cli import main

    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TACTFUL_SECRET_KEY", Fernet.generate_key().decode())
    assert main(["installation", "add", "--kind", "zendesk", "--name", "Acme", "--base-url",
                 "https://acme.zendesk.com", "--webhook-secret", "zendesk-secret-1",
                 "--tone-gate", '{"block_kinds": ["sarcasm"]}']) == 0  # fmt: skip
    added = json.loads(capsys.readouterr().out)
    assert added["tone_gate"]["block_kinds"] == ["sarcasm"]
    assert main(["installation", "update", added["id"], "--tone-gate", '{"allow_override": false}']) == 0
    assert json.loads(capsys.readouterr().out)["tone_gate"]["allow_override"] is False
    assert main(["installation", "update", added["id"], "--tone-gate", '{"block_kinds": ["nope"]}']) == 2
    assert "block_kinds" in capsys.readouterr().err
    assert main(["installation", "update", added["id"], "--tone-gate", "not json"]) == 2
    assert "--tone-gate" in capsys.readouterr().err
    assert main(["installation", "add", "--kind", "zammad", "--name", "EU", "--base-url", "https://z.example.com",
                 "--webhook-secret", "zammad-secret-1"]) == 1  # fmt: skip
    assert "API token" in capsys.readouterr().err


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_an_event_time_out_of_range_is_refused_and_nothing_is_stored(client: TestClient, at: str) -> None:
    """Found by tests/test_fuzz.py: an ``occurred_at`` outside years 1-9999 in UTC was stored, then a 500."""
    body = {"kind": "overridden", "conversation_id": f"fuzz-{at[:4]}", "occurred_at": at}
    r = client.post("/v1/tone-gate/events", json=body, headers=auth("agent"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "occurred_at", r.text
    assert events(client, conversation_id=body["conversation_id"]) == []
