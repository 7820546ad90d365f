"""Agents of an installation sign in as themselves: short-lived agent tokens (api/agent_tokens.py), issued after
Chatwoot's or Zammad's API vouched for the agent and the conversation (fake helpdesks on loopback ports), accepted
beside the role keys and bound to their conversation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from api.agent_tokens import AgentTokens
from api.errors import ApiError
from tests.conftest import auth, make_settings
from tests.fake_helpdesks import FakeChatwootNotes, FakeZammad

SECRET = "hook-secret-123"
ZAMMAD_TOKEN = "zammad-token-abc"


def _tokens(tmp_path: Path, **overrides: object) -> AgentTokens:
    return AgentTokens(make_settings(tmp_path, secret_key=Fernet.generate_key().decode(), **overrides))


def test_a_token_reads_back_until_it_expires(tmp_path: Path) -> None:
    tokens = _tokens(tmp_path)
    token, issued = tokens.issue(installation_id="i1", agent_id="7", agent_name="Ada", conversation_id="chatwoot-i1-5",
                                 now=1000)  # fmt: skip
    assert issued.exp == 1000 + 900
    assert tokens.read(token, now=1001) == issued
    with pytest.raises(ApiError, match="expired") as expired:
        tokens.read(token, now=1000 + 900)
    assert expired.value.code == "unauthorized" and expired.value.field == "authorization"


@pytest.mark.parametrize("tamper", ["payload", "signature", "other-key", "malformed", "non-ascii"])
def test_a_forged_or_altered_token_is_refused(tmp_path: Path, tamper: str) -> None:
    tokens = _tokens(tmp_path)
    token, _claims = tokens.issue(installation_id="i1", agent_id="7", conversation_id="chatwoot-i1-5")
    prefix, body, signature = token.split(".")
    forged = {
        "payload": f"{prefix}.{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{signature}",
        "signature": f"{prefix}.{body}.{signature[::-1]}",
        "other-key": _tokens(tmp_path / "other").issue(installation_id="i1", agent_id="7")[0],
        "malformed": "tat1.nodot",
        "non-ascii": f"{prefix}.{body}.é{signature}",
    }[tamper]
    with pytest.raises(ApiError) as refused:
        tokens.read(forged)
    assert refused.value.code == "unauthorized"


def test_a_refresh_moves_the_expiry_until_the_maximum_age(tmp_path: Path) -> None:
    tokens = _tokens(tmp_path, agent_token_ttl_s=600, agent_token_max_age_s=1000)
    _token, claims = tokens.issue(installation_id="i1", agent_id="7", now=0)
    fresh, renewed = tokens.refresh(claims, now=500)
    assert renewed.exp == 1000 and renewed.auth_at == 0  # capped at the maximum age, never moved
    assert tokens.read(fresh, now=900).agent_id == "7"
    with pytest.raises(ApiError, match="too old"):
        tokens.refresh(renewed, now=1000)


def test_a_placeholder_token_secret_stops_the_service(tmp_path: Path) -> None:
    from api.settings import ConfigError

    with pytest.raises(ConfigError, match="TACTFUL_AGENT_TOKEN_SECRET"):
        make_settings(tmp_path, agent_token_secret="change-me-please").check_can_serve()


# --- through the app ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from api.app import create_app

    settings = make_settings(tmp_path_factory.mktemp("tokens"), secret_key=Fernet.generate_key().decode())
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def chatwoot() -> Iterator[FakeChatwootNotes]:
    fake = FakeChatwootNotes()
    fake.conversations.add("/api/v1/accounts/3/conversations/55")
    fake.agents["3"] = [{"id": 7, "name": "Ada Agent", "available_name": "Ada"}, {"id": 8, "name": "Bo"}]
    yield fake
    fake.server.shutdown()


@pytest.fixture
def zammad() -> Iterator[FakeZammad]:
    fake = FakeZammad()
    fake.tickets["42"] = {"id": 42, "group_id": 1, "title": "Parcel"}
    fake.users["5"] = {"id": 5, "firstname": "Zed", "lastname": "Agent", "active": True, "roles": ["Agent"],
                       "group_ids": {"1": ["full"]}}  # fmt: skip
    yield fake
    fake.server.shutdown()


def _install(app: TestClient, kind: str, base_url: str, token: str) -> str:
    body = {"kind": kind, "name": kind, "base_url": base_url, "api_token": token, "webhook_secret": SECRET}
    r = app.post("/v1/installations", json=body, headers=auth("admin"))
    assert r.status_code == 201, r.text
    installation: str = r.json()["id"]
    return installation


def _token(app: TestClient, **body: Any) -> Any:
    return app.post("/v1/helpdesk/token", json=body)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assist(app: TestClient, token: str, conversation_id: str, **conversation: Any) -> Any:
    body = {"conversation": {"id": conversation_id, "messages": [{"role": "customer", "text": "Where is my parcel?"}],
                             **conversation}}  # fmt: skip
    return app.post("/v1/assist", json=body, headers=_bearer(token))


def test_a_chatwoot_agent_gets_a_token_for_one_conversation(app: TestClient, chatwoot: FakeChatwootNotes) -> None:
    installation = _install(app, "chatwoot", chatwoot.url, "cw-token")
    r = _token(app, installation_id=installation, account_id="3", conversation_id="55", agent_id="7")
    assert r.status_code == 201, r.text
    issued = r.json()
    conversation = f"chatwoot-{installation}-55"
    assert issued["conversation_id"] == conversation and issued["agent"] == {"id": "7", "name": "Ada"}
    assert 0 < issued["expires_in"] <= 900 and issued["token_type"] == "bearer"
    assert set(chatwoot.gets) == {"/api/v1/accounts/3/conversations/55", "/api/v1/accounts/3/agents"}
    token = issued["token"]
    assisted = _assist(app, token, conversation, agent={"id": "8", "name": "Someone else"})
    assert assisted.status_code == 200, assisted.text
    other = _assist(app, token, f"chatwoot-{installation}-56")
    assert other.status_code == 403 and other.json()["error"]["field"] == "conversation.id"
    note = app.post(f"/v1/conversations/{conversation}/notes", json={"text": "Offer a refund."}, headers=_bearer(token))
    assert note.status_code in (201, 502)  # 502: no webhook told Tactful the account yet; the token was accepted
    foreign_note = app.post(f"/v1/conversations/chatwoot-{installation}-9/notes", json={"text": "x"},
                            headers=_bearer(token))  # fmt: skip
    assert foreign_note.status_code == 403 and foreign_note.json()["error"]["field"] == "conversation_id"
    stream = app.post("/v1/assist/stream", json={"conversation": {"id": "chat-1", "messages": [
        {"role": "customer", "text": "Hi"}]}}, headers=_bearer(token))  # fmt: skip
    assert stream.status_code == 403
    assert app.get("/v1/flags", headers=_bearer(token)).status_code == 403  # the role is agent
    context = {"kind": "chatwoot", "installation_id": installation, "account_id": "3", "conversation_id": "56"}
    assert app.post("/v1/helpdesk/context", json=context, headers=_bearer(token)).status_code == 403


def test_the_acting_agent_is_the_token_s(app: TestClient, chatwoot: FakeChatwootNotes) -> None:
    installation = _install(app, "chatwoot", chatwoot.url, "cw-token")
    token = _token(app, installation_id=installation, account_id="3", conversation_id="55", agent_id="7").json()
    headers = _bearer(token["token"])
    listed = app.get("/v1/follow-ups", headers=headers)
    assert listed.status_code == 200, listed.text  # no agent= needed: the token names its agent
    assert app.get("/v1/follow-ups?agent=8", headers=headers).status_code == 403
    event = {"kind": "overridden", "conversation_id": f"chatwoot-{installation}-55", "agent": "7",
             "kinds": ["sarcasm"], "excerpt": "Good luck"}  # fmt: skip
    recorded = app.post("/v1/tone-gate/events", json=event, headers=headers)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["agent"] == "7" and recorded.json()["installation_id"] == installation
    assert app.post("/v1/tone-gate/events", json=event | {"agent": "8"}, headers=headers).status_code == 403
    gate = {"installation_id": "another", "conversation_id": f"chatwoot-{installation}-55"}
    toned = app.post("/v1/tone", json={"text": "Hello", "gate": gate}, headers=headers)
    assert toned.status_code == 403 and toned.json()["error"]["field"] == "gate.installation_id"


def test_chatwoot_saying_no_is_a_403_and_chatwoot_down_a_502(app: TestClient, chatwoot: FakeChatwootNotes) -> None:
    installation = _install(app, "chatwoot", chatwoot.url, "cw-token")
    asked = {"installation_id": installation, "account_id": "3", "conversation_id": "55", "agent_id": "7"}
    stranger = _token(app, **asked | {"agent_id": "99"})
    assert stranger.status_code == 403 and stranger.json()["error"]["field"] == "agent_id"
    unseen = _token(app, **asked | {"conversation_id": "56"})
    assert unseen.status_code == 403 and unseen.json()["error"]["field"] == "conversation_id"
    assert _token(app, **asked | {"installation_id": "nope"}).status_code == 404
    for change, field in (({"account_id": None}, "account_id"), ({"agent_id": "7; drop"}, "agent_id"),
                          ({"conversation_id": ""}, "conversation_id")):  # fmt: skip
        bad = _token(app, **asked | change)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == field, (change, bad.text)
    wrong_token = _install(app, "chatwoot", chatwoot.url, "another-token")
    assert _token(app, **asked | {"installation_id": wrong_token}).status_code == 403
    chatwoot.server.shutdown()
    chatwoot.server.server_close()
    down = _token(app, **asked)
    assert down.status_code == 502 and "Chatwoot" in down.json()["error"]["message"]


def test_a_zammad_agent_needs_the_agent_role_and_the_ticket_s_group(app: TestClient, zammad: FakeZammad) -> None:
    installation = _install(app, "zammad", zammad.url, ZAMMAD_TOKEN)
    r = _token(app, installation_id=installation, conversation_id="42", agent_id="5")
    assert r.status_code == 201, r.text
    assert r.json()["agent"] == {"id": "5", "name": "Zed Agent"}
    assert r.json()["conversation_id"] == f"zammad-{installation}-42"
    assert _assist(app, r.json()["token"], f"zammad-{installation}-42").status_code == 200
    zammad.users["6"] = {"id": 6, "firstname": "Cy", "active": True, "roles": ["Customer"]}
    zammad.users["9"] = {"id": 9, "active": True, "roles": ["Agent"], "group_ids": {"2": ["full"]}}
    zammad.users["10"] = {"id": 10, "active": False, "roles": ["Agent"], "group_ids": {"1": ["full"]}}
    for agent in ("6", "9", "10", "11"):
        refused = _token(app, installation_id=installation, conversation_id="42", agent_id=agent)
        assert refused.status_code == 403 and refused.json()["error"]["field"] == "agent_id", agent
    unknown_ticket = _token(app, installation_id=installation, conversation_id="43", agent_id="5")
    assert unknown_ticket.status_code == 403 and unknown_ticket.json()["error"]["field"] == "conversation_id"


def test_a_zendesk_installation_s_agents_use_the_signed_jwt(app: TestClient) -> None:
    body = {"kind": "zendesk", "name": "Z", "base_url": "https://acme.zendesk.com", "webhook_secret": SECRET}
    installation = app.post("/v1/installations", json=body, headers=auth("admin")).json()["id"]
    r = _token(app, installation_id=installation, conversation_id="1", agent_id="2")
    assert r.status_code == 422 and r.json()["error"]["field"] == "installation_id"


def test_tokens_refresh_and_expired_or_forged_ones_are_401(
    app: TestClient, chatwoot: FakeChatwootNotes, tmp_path: Path
) -> None:
    installation = _install(app, "chatwoot", chatwoot.url, "cw-token")
    token = _token(app, installation_id=installation, account_id="3", conversation_id="55", agent_id="7").json()
    refreshed = app.post("/v1/helpdesk/token/refresh", headers=_bearer(token["token"]))
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["conversation_id"] == token["conversation_id"]
    assert _assist(app, refreshed.json()["token"], token["conversation_id"]).status_code == 200
    by_key = app.post("/v1/helpdesk/token/refresh", headers=auth("agent"))
    assert by_key.status_code == 422 and by_key.json()["error"]["field"] == "authorization"
    tokens = AgentTokens(app.app.state.container.settings)  # type: ignore[attr-defined]
    expired, _claims = tokens.issue(installation_id=installation, agent_id="7", now=0)
    r = _assist(app, expired, token["conversation_id"])
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    forged = _tokens(tmp_path).issue(installation_id=installation, agent_id="7")[0]
    r = _assist(app, forged, token["conversation_id"])
    assert r.status_code == 401 and r.json()["error"]["field"] == "authorization"
    assert app.post("/v1/helpdesk/token/refresh", headers=_bearer(expired)).status_code == 401
