"""The supervisor's service review over HTTP, on SQLite and PostgreSQL: figures per agent and team, CSV export,
role checks and bad periods."""

from __future__ import annotations

import csv
import io
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

    with TestClient(create_app(make_settings(tmp_path / "data", database_url=database_url))) as client:
        yield client


NOW = datetime.now(UTC).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _case(conv_id: str, agent: str, team: str, agent_text: str, *, reply_after_s: int) -> dict[str, Any]:
    asked = NOW - timedelta(hours=2)
    return conversation(
        id=conv_id,
        agent={"id": agent, "team": team},
        messages=[
            {"role": "customer", "text": "My parcel is late, no tracking update for a week.", "at": _iso(asked)},
            {"role": "agent", "text": agent_text, "at": _iso(asked + timedelta(seconds=reply_after_s))},
        ],
    )


def _assist(app: TestClient, conv: dict[str, Any]) -> dict[str, Any]:
    r = app.post("/v1/assist", json={"conversation": conv}, headers=auth("agent"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_the_service_report_counts_per_agent_and_team(app: TestClient) -> None:
    polite = _assist(app, _case("r-1", "ana", "blue", "I'm sorry Ada, I'll check it now.", reply_after_s=60))
    _assist(
        app,
        _case("r-2", "bo", "blue", "Obviously you typed the wrong address. Good luck with that.", reply_after_s=600),
    )
    app.post("/v1/feedback", json={"suggestion_id": polite["suggestion_id"], "item": "empathy", "index": 0,
                                   "action": "accepted"}, headers=auth("agent"))  # fmt: skip
    app.post("/v1/conversations/r-1/survey", json={"score": 5}, headers=auth("agent"))
    app.post("/v1/conversations/r-2/survey", json={"score": 2}, headers=auth("agent"))
    flags = app.get("/v1/flags?status=open", headers=auth("supervisor")).json()["items"]
    sarcasm = next(f for f in flags if f["conversation_id"] == "r-2" and f["kind"] == "sarcasm")
    app.post(f"/v1/flags/{sarcasm['id']}/review", json={"decision": "confirmed"}, headers=auth("supervisor"))

    period = {"from": _iso(NOW - timedelta(days=1)), "to": _iso(NOW + timedelta(hours=1))}
    r = app.get("/v1/reports/service", params=period, headers=auth("supervisor"))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["from"] == period["from"]
    ana, bo, team = report["agents"]["ana"], report["agents"]["bo"], report["teams"]["blue"]
    assert (ana["assists"], ana["suggestions"]["accepted"], ana["first_response_s"]) == (1, 1, 60.0)
    assert bo["first_response_s"] == 600.0
    assert bo["tone_issues_per_100_messages"].get("sarcasm", 0) >= 100  # its one sent message is sarcastic
    assert ana["tone_issues_per_100_messages"].get("sarcasm", 0) == 0
    assert bo["flags"]["raised"] >= 1 and bo["flags"]["confirmed"] == 1 and ana["flags"]["confirmed"] == 0
    assert (ana["survey"], bo["survey"]) == ({"responses": 1, "mean_score": 5.0}, {"responses": 1, "mean_score": 2.0})
    assert team["assists"] == 2 and team["survey"]["mean_score"] == 3.5
    assert report["all"]["conversations"] == 2
    # Outside the period, nothing.
    before = {"from": _iso(NOW - timedelta(days=9)), "to": _iso(NOW - timedelta(days=8))}
    assert app.get("/v1/reports/service", params=before, headers=auth("supervisor")).json()["all"]["assists"] == 0

    exported = app.get("/v1/reports/service.csv", params=period, headers=auth("supervisor"))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    by_name = {(row["group"], row["name"]): row for row in rows}
    assert by_name[("agent", "bo")]["survey_mean"] == "2.0" and by_name[("team", "blue")]["assists"] == "2"


def test_the_report_is_for_supervisors_and_refuses_a_bad_period(app: TestClient) -> None:
    assert app.get("/v1/reports/service", headers=auth("agent")).status_code == 403
    assert app.get("/v1/reports/service", headers=auth("admin")).status_code == 200
    reversed_period = {"from": _iso(NOW), "to": _iso(NOW - timedelta(days=1))}
    r = app.get("/v1/reports/service", params=reversed_period, headers=auth("supervisor"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "from"
    r = app.get("/v1/reports/service", params={"from": "2026-02-30"}, headers=auth("supervisor"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "from"
    r = app.get("/v1/reports/service.csv", params=reversed_period, headers=auth("supervisor"))
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"to": "0001-01-01T00:00:00"}, "to"),  # the default start, a week earlier, is before year 1
        ({"to": "9999-12-31T23:59:59-14:00"}, "to"),  # in year 10000 in UTC
        ({"from": "0001-01-01T00:00:00+14:00"}, "from"),  # in year 0 in UTC
    ],
)
def test_a_period_out_of_range_is_refused_with_the_field_named(
    app: TestClient, query: dict[str, str], field: str
) -> None:
    """Found by tests/test_fuzz.py: times Python cannot convert to UTC or shift by a week were a 500."""
    for path in ("/v1/reports/service", "/v1/reports/service.csv"):
        r = app.get(path, params=query, headers=auth("supervisor"))
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    whole = app.get("/v1/reports/service", params={"to": "9999-12-31T23:59:59Z"}, headers=auth("supervisor"))
    assert whole.status_code == 200 and whole.json()["to"] == "9999-12-31T23:59:59Z"
