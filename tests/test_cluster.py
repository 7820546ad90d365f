"""``scripts/cluster``: the multi-process topology on this machine (Chroma server, a job worker, two web servers of
two workers each, PostgreSQL and Redis), used as an operator would: ingest through one server, search through the
other, delete through the other, and ``down`` stops exactly what ``up`` started."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import auth
from tests.factories import API_KEYS, small_kb

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "scripts" / "cluster"


def _until(check: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout} s")


def _found(url: str, document_id: str) -> bool:
    r = httpx.post(f"{url}/v1/search", json={"query": "Il pacco è in ritardo", "k": 5}, headers=auth("agent"),
                   timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    return any(hit["document_id"] == document_id for hit in r.json()["results"])


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ingest_through_one_server_is_found_through_the_other_and_down_stops_everything(tmp_path: Path) -> None:
    import json

    env = {**os.environ, "TACTFUL_API_KEYS": API_KEYS, "TACTFUL_DATA_DIR": str(tmp_path)}
    started = subprocess.run([str(CLUSTER), "up"], env=env, capture_output=True, text=True, timeout=600)
    state_file = tmp_path / "cluster" / "state.json"
    try:
        assert started.returncode == 0, started.stderr
        web = [line.split()[1] for line in started.stdout.splitlines() if line.startswith("web ")]
        assert len(web) == 2 and web[0] != web[1]
        a, b = web
        late = next(d for d in small_kb() if d.id == "rimborsi-it")
        body = {"documents": [{"id": late.id, "title": late.title, "text": late.text, "language": late.language}]}
        queued = httpx.post(f"{a}/v1/documents", json=body, headers=auth("knowledge"), timeout=30)
        assert queued.status_code == 202, queued.text
        job = queued.json()["job_id"]

        def done() -> bool:
            status = httpx.get(f"{b}/v1/jobs/{job}", headers=auth("knowledge"), timeout=30).json()["status"]
            assert status != "failed"
            return status == "succeeded"

        _until(done, timeout=300, what="the job, seen through the other server")
        _until(lambda: _found(b, late.id), timeout=5, what="the document found through the other server")
        deleted = httpx.delete(f"{b}/v1/documents/{late.id}", headers=auth("knowledge"), timeout=30)
        assert deleted.status_code in (200, 204), deleted.text
        _until(lambda: not _found(a, late.id), timeout=5, what="the first server to stop returning it")
    finally:
        pids = [p["pid"] for p in json.loads(state_file.read_text())["processes"]] if state_file.exists() else []
        stopped = subprocess.run([str(CLUSTER), "down"], env=env, capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert len(pids) == 4 and not any(_alive(pid) for pid in pids)  # chroma, the worker, two web servers
    assert not state_file.exists()


def test_up_needs_its_settings(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TACTFUL_API_KEYS", "TACTFUL_DATA_DIR")}
    r = subprocess.run([str(CLUSTER), "up"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "TACTFUL_API_KEYS" in r.stderr
    r = subprocess.run([str(CLUSTER), "sideways"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "usage" in r.stderr
