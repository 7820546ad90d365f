"""The case journey over HTTP, stored on SQLite and PostgreSQL: escalation and follow-ups in every assist, an
agent's own follow-ups, done, resolve, survey, role checks and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import auth, make_settings
from tests.factories import conversation


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    from api.app import create_app

    settings = make_settings(tmp_path / "data", database_url=database_url, timezone="Europe/Rome")
    with TestClient(create_app(settings)) as client:
        yield client


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


NOW = datetime.now(UTC).replace(microsecond=0)


def promised(conv_id: str, agent: str, *, sent: datetime = NOW) -> dict[str, Any]:
    return conversation(
        id=conv_id,
        agent={"id": agent},
        messages=[
            {"role": "customer", "text": "My refund has not arrived.", "at": _iso(sent - timedelta(minutes=5))},
            {"role": "agent", "text": "I'll call you back tomorrow at 10:00 with an update.", "at": _iso(sent)},
        ],
    )


def assist(app: TestClient, conv: dict[str, Any]) -> dict[str, Any]:
    response = app.post("/v1/assist", json={"conversation": conv}, headers=auth("agent"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_every_assist_carries_escalation_and_the_stored_follow_ups(app: TestClient) -> None:
    body = assist(app, promised("j-1", "ag-1"))
    assert body["escalation"]["action"] in {"keep", "escalate", "offer_human", "offer_self_service"}
    assert body["escalation"]["tier"] == "basic" and body["escalation"]["reasons"]
    [follow_up] = body["follow_ups"]
    assert follow_up["id"] and follow_up["kind"] == "promise" and follow_up["status"] == "open"
    assert follow_up["agent"] == "ag-1" and follow_up["conversation_id"] == "j-1"
    due = datetime.fromisoformat(follow_up["due_at"].replace("Z", "+00:00")).astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Rome")
    )
    assert (due.hour, due.minute) == (10, 0) and due.date() > NOW.date() - timedelta(days=1)
    # The same promise seen again keeps its id: stored once.
    assert assist(app, promised("j-1", "ag-1"))["follow_ups"][0]["id"] == follow_up["id"]


def test_an_agent_sees_only_their_own_follow_ups_and_a_supervisor_sees_all(app: TestClient) -> None:
    assist(app, promised("j-a", "ag-a"))
    assist(app, promised("j-b", "ag-b"))
    missing = app.get("/v1/follow-ups", headers=auth("agent"))
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "agent"
    mine = app.get("/v1/follow-ups?agent=ag-a&status=open", headers=auth("agent")).json()["items"]
    assert [f["conversation_id"] for f in mine] == ["j-a"]
    everyone = app.get("/v1/follow-ups", headers=auth("supervisor")).json()["items"]
    assert {f["conversation_id"] for f in everyone} == {"j-a", "j-b"}
    later = _iso(NOW + timedelta(days=3))
    assert len(app.get("/v1/follow-ups", params={"due_before": later}, headers=auth("supervisor")).json()["items"]) == 2
    assert app.get("/v1/follow-ups", params={"due_before": _iso(NOW)}, headers=auth("supervisor")).json()["items"] == []
    assert app.get("/v1/follow-ups", headers=auth("knowledge")).status_code == 403
    bad = app.get("/v1/follow-ups?status=later", headers=auth("supervisor"))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"
    bad = app.get("/v1/follow-ups?due_before=yesterday", headers=auth("supervisor"))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "due_before"


def test_done_is_kept_across_assists_and_only_the_owner_may_mark_it(app: TestClient) -> None:
    [follow_up] = assist(app, promised("j-2", "ag-2"))["follow_ups"]
    url = f"/v1/follow-ups/{follow_up['id']}/done"
    other = app.post(url, json={"agent": "ag-9"}, headers=auth("agent"))
    assert other.status_code == 403 and other.json()["error"]["field"] == "agent"
    assert app.post(url, headers=auth("agent")).json()["error"]["field"] == "agent"
    done = app.post(url, json={"agent": "ag-2"}, headers=auth("agent"))
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert assist(app, promised("j-2", "ag-2"))["follow_ups"][0]["status"] == "done"
    unknown = app.post("/v1/follow-ups/nope/done", json={"agent": "ag-2"}, headers=auth("agent"))
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "follow_up_id"


def test_a_promise_past_due_turns_missed_in_the_list(app: TestClient) -> None:
    assist(app, promised("j-3", "ag-3", sent=NOW - timedelta(days=4)))
    [follow_up] = app.get("/v1/follow-ups?agent=ag-3", headers=auth("agent")).json()["items"]
    assert follow_up["status"] == "missed"
    flags = app.get("/v1/flags?status=open", headers=auth("supervisor")).json()["items"]
    assert any(f["kind"] == "broken_promise" and f["conversation_id"] == "j-3" for f in flags)


@pytest.mark.parametrize(("level", "days"), [("high_touch", 1), ("low_touch", 3), ("no_touch", 2)])
def test_resolve_adds_a_follow_up_by_contact_level(app: TestClient, level: str, days: int) -> None:
    conv = promised(f"j-r-{level}", "ag-r")
    conv["case"] = {"contact_level": level}
    assist(app, conv)
    at = NOW - timedelta(hours=1)
    response = app.post(f"/v1/conversations/j-r-{level}/resolve", json={"at": _iso(at)}, headers=auth("agent"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resolved_at"] == _iso(at)
    follow_up = body["follow_up"]
    assert follow_up["kind"] == "after_resolution" and follow_up["agent"] == "ag-r"
    assert follow_up["due_at"] == _iso(at + timedelta(days=days))
    assert follow_up["text"].startswith("Hi Ada,") and "from 1" in follow_up["text"]


def test_resolve_and_survey_refuse_bad_input_with_the_field_named(app: TestClient) -> None:
    unknown = app.post("/v1/conversations/nope/resolve", headers=auth("agent"))
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "conversation_id"
    assist(app, promised("j-4", "ag-4"))
    future = app.post(
        "/v1/conversations/j-4/resolve", json={"at": _iso(NOW + timedelta(days=1))}, headers=auth("agent")
    )
    assert future.status_code == 422 and future.json()["error"]["field"] == "at"
    impossible = app.post("/v1/conversations/j-4/resolve", json={"at": "2026-02-30T10:00:00Z"}, headers=auth("agent"))
    assert impossible.status_code == 422 and impossible.json()["error"]["field"] == "at"
    for score in (0, 6, "five"):
        bad = app.post("/v1/conversations/j-4/survey", json={"score": score}, headers=auth("agent"))
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "score"
    ok = app.post("/v1/conversations/j-4/survey", json={"score": 4, "comment": "quick"}, headers=auth("agent"))
    assert ok.status_code == 201 and ok.json()["score"] == 4
    missing = app.post("/v1/conversations/nope/survey", json={"score": 4}, headers=auth("agent"))
    assert missing.status_code == 404
    assert app.post("/v1/conversations/j-4/resolve", headers=auth("knowledge")).status_code == 403


@pytest.mark.parametrize("at", ["2026-13-01T10:00:00Z", "2026-02-30T10:00:00Z", _iso(NOW + timedelta(days=2))])
def test_an_impossible_or_future_message_time_is_refused_with_the_field_named(app: TestClient, at: str) -> None:
    conv = promised("j-5", "ag-5")
    conv["messages"][1]["at"] = at
    response = app.post("/v1/assist", json={"conversation": conv}, headers=auth("agent"))
    assert response.status_code == 422
    assert response.json()["error"]["field"].startswith("conversation.messages.1.at")


def test_a_company_escalation_policy_indexed_through_the_api_drives_the_advice(app: TestClient) -> None:
    policy = {
        "id": "escalation-policy-en",
        "title": "Escalation policy",
        "language": "en",
        "kind": "escalation_policy",
        "text": "# Escalation policy\n\n## Advanced\n- Water damage to a device\n\n## Intermediate\n- Orders over 500 EUR\n",
    }
    r = app.post("/v1/documents", json={"documents": [policy]}, headers=auth("knowledge"))
    assert r.status_code == 202, r.text
    job = app.app.state.container.knowledge.wait(r.json()["job_id"], timeout=300)  # type: ignore[attr-defined]
    assert job["status"] == "succeeded"
    wet = conversation(id="j-p", messages=[{"role": "customer", "text": "My speaker has water damage after the rain."}])
    advice = assist(app, wet)["escalation"]
    assert (advice["needed"], advice["action"], advice["to_tier"]) == ("advanced", "escalate", "advanced")
    assert any("Water damage to a device" in reason for reason in advice["reasons"])
    # Deleted, the defaults are back.
    assert app.delete("/v1/documents/escalation-policy-en", headers=auth("knowledge")).status_code == 204
    assert assist(app, wet)["escalation"]["needed"] == "basic"


def test_a_resolved_case_links_a_one_click_survey_that_only_its_customer_can_answer(tmp_path: Path) -> None:
    from api.app import create_app

    settings = make_settings(tmp_path / "data", public_url="http://testserver/")
    with TestClient(create_app(settings)) as client:
        conv = conversation(id="j-s.1", customer={"name": "Ana Ruiz"}, case={"contact_level": "no_touch"},
                            messages=[{"role": "customer", "text": "¿Dónde está mi pedido? No llega."}])  # fmt: skip
        assist(client, conv)
        text = client.post("/v1/conversations/j-s.1/resolve", headers=auth("agent")).json()["follow_up"]["text"]
        assert text.startswith("Hola Ana:") and "http://testserver/survey/" in text
        link = text[text.index("http://testserver") :].split()[0]
        page = client.get(link)
        assert page.status_code == 200 and page.text.count('name="score"') == 5 and 'lang="es"' in page.text
        answered = client.post(link, data={"score": "4"})
        assert answered.status_code == 201 and "Gracias" in answered.text
        report = client.get("/v1/reports/service", headers=auth("supervisor")).json()
        assert report["all"]["survey"] == {"responses": 1, "mean_score": 4.0}
        forged = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
        assert client.get(forged).status_code == 404
        assert client.post(forged, data={"score": "1"}).status_code == 404
        assert client.post(link, data={"score": "9"}).status_code == 422
        assert client.get("/v1/reports/service", headers=auth("supervisor")).json()["all"]["survey"]["responses"] == 1


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+14:00", "1899-12-31T23:59:59Z"])
def test_a_time_out_of_range_is_refused_with_the_field_named(app: TestClient, at: str) -> None:
    """Found by tests/test_fuzz.py: a message time in year 0 in UTC was a 500 (the promise reader converts it)."""
    conv = promised("j-6", "ag-6")
    conv["messages"][1]["at"] = at
    response = app.post("/v1/assist", json={"conversation": conv}, headers=auth("agent"))
    assert response.status_code == 422 and response.json()["error"]["field"] == "conversation.messages.1.at"
    resolved = app.post("/v1/conversations/j-6/resolve", json={"at": at}, headers=auth("agent"))
    assert resolved.status_code == 422 and resolved.json()["error"]["field"] == "at"
    listed = app.get("/v1/follow-ups", params={"due_before": at}, headers=auth("supervisor"))
    assert listed.status_code == 422 and listed.json()["error"]["field"] == "due_before"
