"""A newcomer's first minute: while the knowledge base is being indexed, every assist says so."""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import auth, make_settings
from tests.factories import conversation, small_kb


def test_an_assist_during_indexing_says_so_and_the_next_one_after_it_does_not(tmp_path: Path) -> None:
    from api.app import create_app

    app = create_app(make_settings(tmp_path))
    release, reached = threading.Event(), threading.Event()

    def hold(_: str, done: int) -> None:  # the job waits after its first document until the test lets it go
        if done >= 1:
            reached.set()
            release.wait(timeout=120)

    with TestClient(app) as client:
        knowledge = client.app.state.container.knowledge  # type: ignore[attr-defined]
        knowledge.failure_hook = hold
        job = knowledge.submit_documents(small_kb())
        assert reached.wait(timeout=300)
        during = client.post("/v1/assist", json={"conversation": conversation()}, headers=auth("agent")).json()
        assert during["knowledge"]["state"] == "indexing"
        assert during["knowledge"]["job_id"] == job["job_id"]
        assert during["knowledge"]["total"] == len(small_kb()) and 1 <= during["knowledge"]["done"] <= len(small_kb())
        release.set()
        assert knowledge.wait(job["job_id"], timeout=300)["status"] == "succeeded"
        after = client.post("/v1/assist", json={"conversation": conversation()}, headers=auth("agent")).json()
        assert after["knowledge"] == {"state": "ready", "job_id": "", "done": 0, "total": 0, "message": ""}
        assert after["next_steps"]
