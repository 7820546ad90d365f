"""Faults (issue 10), on real services of each test's own that it kills and starts again: a Chroma server, a private
PostgreSQL cluster (initdb + pg_ctl from Debian's packages, never the machine's server), a Redis, and a web worker
of ``tactful serve --workers 2`` killed during a stream. A job worker killed mid-job is in tests/test_worker.py
(queue) and tests/test_reindex_killed.py (in process). docs/deploy.md, "Faults", says what each shows."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.persistence.tables import FeedbackRow, FlagRow, JobRow
from kb_index.errors import StoreUnavailable
from tests._services import redis_server
from tests.conftest import _free_port, auth, index_small_kb, make_settings
from tests.factories import API_KEYS, DRAFT, conversation, small_kb
from tests.fake_llm import FakeLLM, Reply, good_model

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def until(check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(every)


def turn(text: str, conversation_id: str) -> dict[str, Any]:
    """A conversation whose last customer turn is ``text`` (a new turn: the engine's kept retrievals do not apply)."""
    return conversation(id=conversation_id, messages=[{"role": "customer", "text": text}])


# --- Chroma server killed during traffic -------------------------------------------------------------------------


@contextmanager
def chroma_run(path: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    exe = BIN / "chroma"
    command = [str(exe) if exe.exists() else "chroma", "run", "--path", str(path), "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        until(lambda: _answers(f"http://127.0.0.1:{port}/api/v2/heartbeat") or proc.poll() is not None,
              timeout=60, what="chroma run")  # fmt: skip
        assert proc.poll() is None, "chroma run exited"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=20)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


def test_chroma_killed_assists_answer_from_this_processs_copy_saying_so_and_recover_when_it_is_back(
    tmp_path: Path,
) -> None:
    port = _free_port()
    settings = make_settings(tmp_path / "data", chroma_url=f"http://127.0.0.1:{port}", tone_learned_sarcasm=False)
    with chroma_run(tmp_path / "chroma", port) as chroma, TestClient(create_app(settings)) as client:
        container = client.app.state.container  # type: ignore[attr-defined]
        index_small_kb(container)
        before = client.post("/v1/assist", json={"conversation": conversation()}, headers=auth("agent")).json()
        assert before["knowledge"]["state"] == "ready" and before["articles"]
        chroma.kill()
        chroma.wait(timeout=20)

        started = time.monotonic()
        r = client.post("/v1/assist", json={"conversation": turn("I want a refund for my order", "c2"),
                                            "draft": DRAFT}, headers=auth("agent"))  # fmt: skip
        assert r.status_code == 200, r.text  # was a 500 (httpx.ConnectError)
        body = r.json()
        assert body["knowledge"]["state"] == "unavailable"
        assert "knowledge base unavailable" in body["knowledge"]["message"]
        assert body["empathy"] and body["tone"]["issues"]  # the rules answer, the tone check with it
        assert "rimborsi-it" in {a["document_id"] for a in body["articles"]}  # from the vectors this process holds
        searched = client.post("/v1/search", json={"query": "il pacco è in ritardo", "k": 3}, headers=auth("agent"))
        assert searched.status_code == 200, searched.text
        assert searched.json()["results"][0]["document_id"] == "late-parcel-en"
        tone = client.post("/v1/tone", json={"text": DRAFT}, headers=auth("agent"))
        assert tone.status_code == 200 and tone.json()["issues"]
        assert time.monotonic() - started < 5  # no request waited on the dead server
        late = next(d for d in small_kb() if d.id == "late-parcel-en")
        doc = {"id": "late-copy", "title": late.title, "text": late.text, "language": late.language}
        queued = client.post("/v1/documents", json=doc, headers=auth("knowledge"))
        assert queued.status_code == 202, queued.text
        job = container.knowledge.wait(queued.json()["job_id"], timeout=60)
        assert job["status"] == "failed" and "Chroma server cannot be reached" in job["error"], job  # not hung

        with chroma_run(tmp_path / "chroma", port):  # the same port and data: no restart of the app
            state = until(
                lambda: (a := client.post("/v1/assist", json={"conversation": turn("Where is my parcel?", "c3")},
                                          headers=auth("agent")).json())["knowledge"]["state"] == "ready" and a,
                timeout=5, what="the assist to say the knowledge base is back",
            )  # fmt: skip
            assert state["articles"]
            assert container.knowledge.retriever.unavailable == ""
            again = client.post("/v1/documents", json=doc, headers=auth("knowledge"))  # the next job runs, on Chroma
            assert container.knowledge.wait(again.json()["job_id"], timeout=60)["status"] == "succeeded"
            hits = client.post("/v1/search", json={"query": "late parcel tracking", "k": 5}, headers=auth("agent"))
            assert "late-copy" in {h["document_id"] for h in hits.json()["results"]}


def test_chroma_hanging_answers_like_chroma_down_within_its_timeout_and_recovers_when_it_resumes(
    tmp_path: Path,
) -> None:
    """A Chroma server that accepts connections and never answers (SIGSTOP) was a search waiting forever (chromadb's
    HTTP client has no timeout): now it is the unavailable state, answered from this process's copy."""
    port = _free_port()
    settings = make_settings(tmp_path / "data", chroma_url=f"http://127.0.0.1:{port}", chroma_timeout_s=1.0,
                             tone_learned_sarcasm=False)  # fmt: skip
    with chroma_run(tmp_path / "chroma", port) as chroma, TestClient(create_app(settings)) as client:
        container = client.app.state.container  # type: ignore[attr-defined]
        store = container.knowledge.retriever.store
        index_small_kb(container)
        before = client.post("/v1/assist", json={"conversation": conversation()}, headers=auth("agent")).json()
        assert before["knowledge"]["state"] == "ready" and before["articles"]
        os.kill(chroma.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            r = client.post("/v1/assist", json={"conversation": turn("I want a refund for my order", "c2"),
                                                "draft": DRAFT}, headers=auth("agent"))  # fmt: skip
            assert r.status_code == 200, r.text
            assert time.monotonic() - started < 4  # one 1 s timeout, not forever
            body = r.json()
            assert body["knowledge"]["state"] == "unavailable", body["knowledge"]
            assert "timed out" in body["knowledge"]["message"]
            assert body["empathy"] and body["tone"]["issues"]
            assert "rimborsi-it" in {a["document_id"] for a in body["articles"]}  # from the vectors this process holds

            # While one call asks the hung server again, the others fail at once instead of queueing behind it.
            asking, ended = threading.Event(), []

            def probe() -> None:
                asking.set()
                with pytest.raises(StoreUnavailable):
                    store.heartbeat()
                ended.append(time.monotonic())

            prober = threading.Thread(target=probe)
            prober.start()
            asking.wait(5)
            time.sleep(0.1)
            with pytest.raises(StoreUnavailable, match="timed out"):
                store.count(container.knowledge.active_collection)
            refused_at = time.monotonic()
            prober.join(10)
            assert ended and refused_at < ended[0]
        finally:
            os.kill(chroma.pid, signal.SIGCONT)
        back = until(
            lambda: (a := client.post("/v1/assist", json={"conversation": turn("Where is my parcel?", "c3")},
                                      headers=auth("agent")).json())["knowledge"]["state"] == "ready" and a,
            timeout=10, what="the assist to say the knowledge base is back",
        )  # fmt: skip
        assert back["articles"] and container.knowledge.retriever.unavailable == ""
        assert store.count(container.knowledge.active_collection) > 0


# --- PostgreSQL restarted ------------------------------------------------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own in a temporary directory, on a free port (never the machine's server at
    5432); run as the ``postgres`` user when the test runs as root (postgres refuses root)."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (Debian's postgresql package)")
        self.bin = Path(found[-1]).parent
        self.user = "postgres" if os.geteuid() == 0 else None
        self.folder = Path(tempfile.mkdtemp(prefix="tactful-pg-"))
        if self.user:
            shutil.chown(self.folder, user=self.user)
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([str(self.bin / tool), *args], user=self.user, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert done.returncode == 0, f"{tool}: {done.stdout}{done.stderr}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-o", options, "-l", str(self.folder / "log"), "-w",
                  "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        if (self.folder / "data" / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


SARCASTIC = "Well, obviously you didn't read the manual. Let me check."


def test_postgres_restarted_requests_fail_with_a_503_lose_nothing_acknowledged_and_recover(
    tmp_path: Path, private_postgres: PrivatePostgres
) -> None:
    settings = make_settings(tmp_path / "data", database_url=private_postgres.url, tone_learned_sarcasm=False)
    acknowledged_flags: set[str] = set()
    acknowledged_feedback = 0

    def assist(conversation_id: str) -> httpx.Response:
        messages = [{"role": "customer", "text": "It broke"}, {"role": "agent", "text": SARCASTIC}]
        return client.post("/v1/assist", json={"conversation": conversation(id=conversation_id, messages=messages)},
                           headers=auth("agent"))  # fmt: skip

    def feedback(suggestion_id: str) -> httpx.Response:
        body = {"suggestion_id": suggestion_id, "item": "empathy", "index": 0, "action": "accepted"}
        return client.post("/v1/feedback", json=body, headers=auth("agent"))

    with TestClient(create_app(settings)) as client:
        container = client.app.state.container  # type: ignore[attr-defined]
        first = assist("pg-1")
        assert first.status_code == 200 and first.json()["flags"], first.text
        acknowledged_flags |= {f["id"] for f in first.json()["flags"]}
        assert feedback(first.json()["suggestion_id"]).status_code == 204
        acknowledged_feedback += 1

        private_postgres.stop()
        for answer in (assist("pg-2"), feedback(first.json()["suggestion_id"]),
                       client.get("/v1/flags", headers=auth("supervisor"))):  # fmt: skip
            assert answer.status_code == 503, answer.text  # was a 500
            assert answer.json()["error"]["code"] == "database_unavailable" and answer.headers["Retry-After"] == "1"
        assert client.get("/healthz").status_code == 200
        private_postgres.start()

        second = assist("pg-2")  # the client's retry, on a pool whose connections all died
        assert second.status_code == 200, second.text
        acknowledged_flags |= {f["id"] for f in second.json()["flags"]}
        assert feedback(second.json()["suggestion_id"]).status_code == 204
        acknowledged_feedback += 1
        listed = client.get("/v1/flags", headers=auth("supervisor"))
        assert listed.status_code == 200, listed.text

        # An indexing job the database went away under (mid-job, between two documents): recorded failed once the
        # database is back, and the next job runs (the job thread used to die, leaving every later job queued).
        def stop_once(_job: str, done: int) -> None:
            if done and container.knowledge.failure_hook is not None:
                container.knowledge.failure_hook = None
                private_postgres.stop()

        container.knowledge.failure_hook = stop_once
        job = container.knowledge.submit_documents(small_kb())["job_id"]
        until(lambda: container.knowledge.failure_hook is None, timeout=60, what="the job's first document")
        time.sleep(0.5)
        private_postgres.start()
        failed = container.knowledge.wait(job, timeout=30)
        assert failed["status"] == "failed" and "database was unavailable" in failed["error"], failed
        index_small_kb(container)  # the next job runs and succeeds

    engine = sa.create_engine(private_postgres.url)
    with engine.connect() as conn:
        stored_flags = set(conn.scalars(sa.select(FlagRow.id)))
        assert acknowledged_flags <= stored_flags
        assert conn.scalar(sa.select(sa.func.count()).select_from(FeedbackRow)) == acknowledged_feedback
        assert conn.scalar(sa.select(sa.func.count()).select_from(JobRow).where(JobRow.status == "running")) == 0
    engine.dispose()


# --- Redis stopped ------------------------------------------------------------------------------------------------


def test_redis_killed_requests_degrade_never_fail_and_share_again_when_it_is_back(
    tmp_path: Path, chroma_server: str
) -> None:
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    settings = make_settings(
        tmp_path / "data", chroma_url=chroma_server, queue_url=url, redis_prefix="faults", rate_limit_per_minute=600,
        tone_learned_sarcasm=False,
    )  # fmt: skip
    doc = {"id": "note-1", "title": "Note", "text": "Parcels leave the warehouse within two days.", "language": "en"}
    with redis_server(port) as server, TestClient(create_app(settings)) as client:
        knowledge = client.app.state.container.knowledge  # type: ignore[attr-defined]
        assert client.post("/v1/documents", json=doc, headers=auth("knowledge")).status_code == 202
        server.kill()

        started = time.monotonic()
        for i in range(5):
            r = client.post("/v1/assist", json={"conversation": turn(f"My parcel {i} is late", f"r-{i}")},
                            headers=auth("agent"))  # fmt: skip
            assert r.status_code == 200, r.text
        assert client.post("/v1/search", json={"query": "refund"}, headers=auth("agent")).status_code == 200
        assert client.post("/v1/tone", json={"text": DRAFT}, headers=auth("agent")).status_code == 200
        assert client.get("/v1/feedback/report", headers=auth("agent")).status_code == 200
        knowledge.follow()  # a tick of the follower thread: nothing raised
        assert time.monotonic() - started < 8  # each asks Redis at most once a second (0.5 s timeouts)
        refused = client.post("/v1/documents", json=doc, headers=auth("knowledge"))
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "knowledge_base_unavailable"

        with redis_server(port):  # back on the same port, empty
            back = until(
                lambda: (r := client.post("/v1/documents", json=doc, headers=auth("knowledge"))).status_code == 202
                and r, timeout=10, what="a submission to be queued again", every=0.5,
            )  # fmt: skip
            queued = redis.Redis(port=port)
            try:
                assert queued.keys("faults:jobs:*"), "the job's message is on the queue"
            finally:
                queued.close()
            assert knowledge.job(back.json()["job_id"])["status"] == "queued"
            rates = redis.Redis(port=port)

            def counted_in_redis() -> bool:
                assert client.get("/v1/feedback/report", headers=auth("agent")).status_code == 200
                return bool(rates.keys("faults:rate:*"))

            try:  # the limiter asks Redis again (at most a second after its last failure) and shares again
                until(counted_in_redis, timeout=5, what="the rate limit counted in Redis again", every=0.3)
            finally:
                rates.close()


# --- a web worker killed during a stream ----------------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _serving(workers: set[int], client_port: int) -> int:
    """The worker holding the server side of the connection from ``client_port`` (from /proc/net/tcp)."""
    inode = ""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == client_port:  # remote address: the client's side
            inode = fields[9]
    assert inode, "the stream's connection is not in /proc/net/tcp"
    (worker,) = [w for w in workers if inode in _socket_inodes(w)]
    return worker


@pytest.mark.slow
def test_a_web_worker_killed_during_a_stream_ends_that_stream_only_and_is_replaced(
    tmp_path: Path, chroma_server: str
) -> None:
    llm = FakeLLM(good_model).start()
    port, redis_port = _free_port(), _free_port()
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "TACTFUL_DATA_DIR": str(tmp_path / "data"),
        "TACTFUL_API_KEYS": API_KEYS, "TACTFUL_DATABASE_URL": f"sqlite:///{tmp_path / 'tactful.db'}",
        "TACTFUL_CHROMA_URL": chroma_server, "TACTFUL_QUEUE_URL": f"redis://127.0.0.1:{redis_port}/0",
        "TACTFUL_LLM_BASE_URL": llm.url, "TACTFUL_LLM_MODEL": "fake", "TACTFUL_LLM_TIMEOUT_S": "20",
        "TACTFUL_LLM_CACHE_TTL_S": "0", "TACTFUL_TONE_LEARNED_SARCASM": "false", "TACTFUL_EMBEDDING_THREADS": "1",
    }  # fmt: skip
    exe = BIN / "tactful"
    tactful = [str(exe)] if exe.exists() else [sys.executable, "-m", "api.cli"]
    base = f"http://127.0.0.1:{port}"
    with redis_server(redis_port), (tmp_path / "serve.log").open("w") as log:
        subprocess.run([*tactful, "migrate"], env=env, cwd=tmp_path, check=True, capture_output=True)
        proc = subprocess.Popen([*tactful, "serve", "--workers", "2", "--port", str(port)], env=env, cwd=tmp_path,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            until(lambda: _answers(f"{base}/healthz"), timeout=120, what="tactful serve --workers 2")
            children = _children(proc.pid)  # the two workers (and multiprocessing's resource tracker)
            assert len(children) >= 2
            llm.behave = lambda request: Reply(content=good_model(request).content, delay_s=10)  # a slow LLM
            body = {"conversation": conversation(), "draft": "Hello Ada, I will check your parcel now."}
            with httpx.Client(base_url=base, timeout=30) as client, \
                    client.stream("POST", "/v1/assist/stream", json=body, headers=auth("agent")) as stream:  # fmt: skip
                assert stream.status_code == 200
                lines = stream.iter_lines()
                assert next(lines) == "event: assist"  # the rules answer came; the LLM's parts are pending
                client_port = stream.extensions["network_stream"].get_extra_info("client_addr")[1]
                victim = _serving(children, client_port)
                os.kill(victim, signal.SIGKILL)
                with pytest.raises(httpx.HTTPError):  # the client sees the connection end, not a hang
                    rest = list(lines)
                    assert not any(line.startswith("event: done") for line in rest)
                    raise httpx.ReadError("the stream ended without its done event")
            llm.behave = good_model
            for _ in range(6):  # the other worker (and the replacement) keep answering
                r = httpx.post(f"{base}/v1/assist", json={"conversation": conversation()}, headers=auth("agent"),
                               timeout=30)  # fmt: skip
                assert r.status_code == 200, r.text
            replaced = until(lambda: len(w := _children(proc.pid)) == len(children) and victim not in w and w,
                             timeout=60, what="the master to replace the killed worker")  # fmt: skip
            assert len(replaced - children) == 1 and proc.poll() is None
        except BaseException as exc:  # what the service logged says why (a worker its supervisor took for hung?)
            exc.add_note("tactful serve's log:\n" + (tmp_path / "serve.log").read_text(errors="replace")[-6000:])
            raise
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            llm.stop()
