"""Production basics: requests per minute per key (429 with Retry-After, other keys unaffected) and the Prometheus
metrics (request latency per route, assists, flags, the indexing queue)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.ratelimit import RateLimiter
from tests.conftest import auth, make_settings
from tests.factories import conversation


def test_a_key_past_its_rate_gets_a_429_with_retry_after_and_other_keys_go_on(tmp_path: Path) -> None:
    from api.app import create_app

    with TestClient(create_app(make_settings(tmp_path / "data", rate_limit_per_minute=5))) as client:
        answers = [client.get("/v1/feedback/report", headers=auth("agent")) for _ in range(6)]
        assert [a.status_code for a in answers[:5]] == [200] * 5
        refused = answers[5]
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_requests"
        assert refused.json()["error"]["field"] == "authorization" and int(refused.headers["Retry-After"]) >= 1
        assert client.get("/v1/flags", headers=auth("supervisor")).status_code == 200  # another key
        assert client.get("/healthz").status_code == 200  # not /v1: never limited
        assert "tactful_rate_limited_total 1.0" in client.get("/metrics").text


def test_the_bucket_refills_evenly() -> None:
    limiter = RateLimiter(60)  # one a second
    assert all(limiter.wait_for("k", now=0.0) == 0 for _ in range(60))
    assert limiter.wait_for("k", now=0.0) == 1.0
    assert limiter.wait_for("k", now=1.0) == 0.0
    assert limiter.wait_for("other", now=1.0) == 0.0
    assert RateLimiter(0).wait_for("k") == 0.0  # off


def test_metrics_count_requests_assists_and_flags(tmp_path: Path) -> None:
    from api.app import create_app

    with TestClient(create_app(make_settings(tmp_path / "data"))) as client:
        sarcastic = conversation(messages=[
            {"role": "customer", "text": "My parcel is late."},
            {"role": "agent", "text": "Obviously you typed the wrong address. Good luck with that."},
        ])  # fmt: skip
        assert client.post("/v1/assist", json={"conversation": sarcastic}, headers=auth("agent")).status_code == 200
        client.get("/v1/flags/nope", headers=auth("supervisor"))
        text = client.get("/metrics").text
        assert client.get("/metrics").headers["content-type"].startswith("text/plain")
        assert 'tactful_http_request_seconds_count{method="POST",route="/v1/assist",status="200"} 1.0' in text
        assert 'tactful_assists_total{engine="rules"} 1.0' in text
        assert 'tactful_flags_raised_total{kind="sarcasm"} 1.0' in text
        assert "tactful_index_queue_depth" in text
        assert "Obviously" not in text  # counts, never conversation text
