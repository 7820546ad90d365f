"""Flags and reviews, stored on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import auth, make_settings
from tests.factories import conversation


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(make_settings(tmp_path / "data", database_url=database_url))) as client:
        yield client


SARCASTIC = conversation(
    id="sup-1",
    messages=[
        {"role": "customer", "text": "My order still has not arrived, this is the third time I write!"},
        {"role": "agent", "text": "Obviously you entered the wrong address. Good luck with that."},
        {"role": "customer", "text": "This is unacceptable. I will go to a lawyer and cancel my account!!!"},
    ],
)


def test_flags_are_stored_reviewed_and_kept(app: TestClient) -> None:
    a = app.post("/v1/assist", json={"conversation": SARCASTIC}, headers=auth("agent")).json()
    kinds = {f["kind"] for f in a["flags"]}
    assert {"sarcasm", "frustration_rising"} <= kinds
    app.post("/v1/assist", json={"conversation": SARCASTIC}, headers=auth("agent"))
    open_flags = app.get("/v1/flags?status=open", headers=auth("supervisor")).json()["items"]
    assert len(open_flags) == len(a["flags"])  # once per conversation and kind
    flag = next(f for f in open_flags if f["kind"] == "sarcasm")
    assert {"id", "conversation_id", "kind", "severity", "message", "excerpt", "status", "created_at"} <= set(flag)
    assert flag["excerpt"] and flag["message_index"] == 1

    r = app.post(
        f"/v1/flags/{flag['id']}/review",
        json={"decision": "dismissed", "note": "customer joked first"},
        headers=auth("supervisor"),
    )
    assert r.status_code == 200 and r.json()["status"] == "dismissed" and r.json()["note"] == "customer joked first"
    still_open = app.get("/v1/flags?status=open", headers=auth("supervisor")).json()["items"]
    assert flag["id"] not in {f["id"] for f in still_open}
    dismissed = app.get("/v1/flags?status=dismissed", headers=auth("supervisor")).json()["items"]
    assert [f["id"] for f in dismissed] == [flag["id"]]
    stats = app.get("/v1/flags/stats", headers=auth("supervisor")).json()
    assert stats["dismissed"] == 1 and stats["dismissed_share"] > 0

    bundle = app.get("/v1/conversations/sup-1", headers=auth("supervisor")).json()
    assert len(bundle["assists"]) == 2 and bundle["conversation"]["messages"][1]["role"] == "agent"
    assert {f["id"] for f in bundle["flags"]} >= {flag["id"]}


def test_bad_review_is_422(app: TestClient) -> None:
    r = app.post("/v1/flags/x/review", json={"decision": "maybe"}, headers=auth("supervisor"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "decision"


def test_flags_can_be_filtered_by_agent(app: TestClient) -> None:
    conv = {**SARCASTIC, "id": "sup-agent", "agent": {"id": "a7", "name": "Marco"}}
    assert app.post("/v1/assist", json={"conversation": conv}, headers=auth("agent")).status_code == 200
    mine = app.get("/v1/flags?agent=Marco", headers=auth("supervisor")).json()["items"]
    assert mine and {f["conversation_id"] for f in mine} == {"sup-agent"} and {f["agent"] for f in mine} == {"Marco"}
    assert app.get("/v1/flags?agent=Nobody", headers=auth("supervisor")).json()["items"] == []


def test_concurrent_assists_on_a_new_conversation_all_succeed(app: TestClient) -> None:
    # The sidebar assists on load and again, debounced, as the agent types: both may reach a new conversation.
    from concurrent.futures import ThreadPoolExecutor

    conv = {**SARCASTIC, "id": "race-1"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda _: app.post("/v1/assist", json={"conversation": conv},
                                                    headers=auth("agent")).status_code, range(4)))  # fmt: skip
    assert statuses == [200, 200, 200, 200]
    bundle = app.get("/v1/conversations/race-1", headers=auth("supervisor")).json()
    assert len(bundle["assists"]) == 4
