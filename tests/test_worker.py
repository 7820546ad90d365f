"""``tactful worker`` and the shared index version, on the real services: ``chroma run``, Redis at 127.0.0.1:6379,
PostgreSQL, real worker processes killed with SIGKILL. Each test has its own Redis key prefix and PostgreSQL schema,
so parallel runs do not collide."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from api.container import Container, build_embeddings
from api.persistence import knowledge_repo as repo
from api.persistence.database import Database
from api.persistence.tables import JobRow
from api.queue import JobQueue
from api.services.knowledge import KnowledgeService, Lease
from api.settings import ConfigError, Settings
from api.shared_state import SharedVersion
from kb_index.chunking import chunk_document
from kb_index.documents import SourceDocument
from kb_index.embeddings import E5Embeddings
from kb_index.indexing import Indexer
from kb_index.retrieval import HybridRetriever
from kb_index.store import ChromaStore
from tests._services import redis_server
from tests.conftest import POSTGRES_URL, REDIS_URL, _drop_schema, _free_port, auth, make_settings
from tests.factories import API_KEYS, small_kb

ROOT = Path(__file__).resolve().parent.parent


# --- fixtures -------------------------------------------------------------------------------------------------------


@pytest.fixture
def chroma(chroma_server: str) -> Iterator[str]:
    """The module's Chroma server, left empty for the next test."""
    yield chroma_server
    client = chromadb_client(chroma_server)
    for name in client.names():
        client.drop(name)


def chromadb_client(url: str) -> ChromaStore:
    return ChromaStore.open(data_dir=Path("."), url=url, embeddings=E5Embeddings())


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL schema of this test's own (the processes of one deployment share one database)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    _drop_schema(schema)


def cluster_settings(data_dir: Path, *, chroma: str, database: str, prefix: str, **extra: object) -> Settings:
    return make_settings(
        data_dir, chroma_url=chroma, database_url=database, queue_url=REDIS_URL, redis_prefix=prefix,
        tone_learned_sarcasm=False, **extra,
    )  # fmt: skip


def many_documents(copies: int) -> list[SourceDocument]:
    """``copies`` renamed copies of the small knowledge base: ten chunks a copy, each to embed (~0.1 s a chunk)."""
    return [replace(d, id=f"{d.id}-{i}", title=f"{d.title} {i}") for i in range(copies) for d in small_kb()]


def document_json(doc: SourceDocument) -> dict[str, Any]:
    fields = asdict(doc)
    return {key: fields[key] for key in ("id", "title", "text", "format", "language", "kind")}


class Worker:
    """``tactful worker`` in a process of its own (the console script), its log in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        exe = Path(sys.executable).parent / "tactful"
        command = [str(exe), "worker"] if exe.exists() else [sys.executable, "-m", "api.cli", "worker"]
        self.log = log
        self._log_file = log.open("w")
        self.proc = subprocess.Popen(
            command, env=env, cwd=log.parent, stdout=subprocess.PIPE, stderr=self._log_file, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # printed once the worker consumes the queue
        assert line.startswith("tactful worker"), (line, log.read_text())
        self.owner = line.split()[2].rstrip(":")

    def lines(self, needle: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if needle in line]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log_file.close()


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TACTFUL_DATA_DIR": str(settings.data_dir),
        "TACTFUL_DATABASE_URL": settings.database_url,
        "TACTFUL_CHROMA_URL": settings.chroma_url,
        "TACTFUL_QUEUE_URL": settings.queue_url,
        "TACTFUL_REDIS_PREFIX": settings.redis_prefix,
        "TACTFUL_EMBEDDING_THREADS": "1",
    }
    env.update(extra)
    return env


@contextmanager
def web(settings: Settings, embeddings: Any) -> Iterator[TestClient]:
    """A web process's app (its own container: its own retriever, following the shared version)."""
    container = Container.build(settings, embeddings=embeddings)
    with TestClient(create_app(settings, container=container)) as client:
        yield client


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(every)


def job_row(db: Database, job_id: str) -> JobRow:
    with db.session() as s:
        row = s.get(JobRow, job_id)
        assert row is not None
        return row


def search_ids(client: TestClient, query: str) -> set[str]:
    r = client.post("/v1/search", json={"query": query, "k": 5}, headers=auth("agent"))
    assert r.status_code == 200, r.text
    return {hit["document_id"] for hit in r.json()["results"]}


# --- a worker killed mid-job ------------------------------------------------------------------------------------------


def test_a_job_whose_worker_is_killed_is_retried_by_another_and_completes_once(
    tmp_path: Path,
    chroma: str,
    pg_url: str,
    prefix: str,
) -> None:
    settings = cluster_settings(tmp_path / "data", chroma=chroma, database=pg_url, prefix=prefix)
    env = worker_env(settings, TACTFUL_JOB_LEASE_S="3", TACTFUL_QUEUE_HEARTBEAT_S="3")
    docs = many_documents(13)  # 130 chunks: three indexing groups
    chunks = sum(len(chunk_document(d)) for d in docs)
    embeddings = build_embeddings(settings)
    with ExitStack() as stack:
        first = Worker(env, tmp_path / "worker-1.log")
        stack.callback(first.stop)
        a = stack.enter_context(web(settings, embeddings))
        b = stack.enter_context(web(settings, embeddings))  # serving before the job: it must follow the change
        assert search_ids(b, "il pacco è in ritardo") == set()
        r = a.post("/v1/documents", json={"documents": [document_json(d) for d in docs]}, headers=auth("knowledge"))
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        db = a.app.state.container.db  # type: ignore[attr-defined]

        running = wait_for(
            lambda: (row := job_row(db, job_id)).status == "running" and row.done > 0 and row,
            timeout=180, what="the first worker to index its first group",
        )  # fmt: skip
        assert running.lease_owner == first.owner and running.attempts == 1
        first.kill()
        assert job_row(db, job_id).status == "running"  # as the killed worker left it

        second = Worker(env, tmp_path / "worker-2.log")
        stack.callback(second.stop)
        done = wait_for(
            lambda: (job := b.get(f"/v1/jobs/{job_id}", headers=auth("knowledge")).json())["status"]
            in ("succeeded", "failed") and job,
            timeout=240, what="the job to finish on the second worker", every=0.25,
        )  # fmt: skip
        finished = time.monotonic()
        assert done["status"] == "succeeded", done
        assert done["counts"] == {"added": len(docs), "updated": 0, "skipped": 0, "deleted": 0}
        assert a.get(f"/v1/jobs/{job_id}", headers=auth("knowledge")).json() == done  # any web process answers
        row = job_row(db, job_id)
        assert row.attempts == 2 and row.lease_owner == second.owner  # killed once, run again once
        assert len(second.lines(f"job {job_id}: ran")) == 1
        # Completed once: every document once, every chunk once (the retry skipped what the first run wrote).
        listed = a.get("/v1/documents?limit=1", headers=auth("knowledge")).json()
        assert listed["total"] == len(docs)
        store = a.app.state.container.knowledge.indexer.store  # type: ignore[attr-defined]
        active = a.app.state.container.knowledge._write_collection()  # type: ignore[attr-defined]
        assert store.count(active) == chunks
        assert store.names() == [active]

        # The second web process, which never ran the job, serves the new index within 5 s.
        wait_for(
            lambda: any(i.startswith("late-parcel-en") for i in search_ids(b, "il pacco è in ritardo")),
            timeout=5, what="web process B to serve the new index",
        )  # fmt: skip
        assert time.monotonic() - finished < 5


# --- never twice at once ----------------------------------------------------------------------------------------------


def test_two_workers_never_run_one_job_at_once_even_when_it_outlives_its_lease(
    tmp_path: Path,
    chroma: str,
    pg_url: str,
    prefix: str,
) -> None:
    """A 1 s lease and a job of several seconds: the lease is renewed, so neither the other worker nor a second
    delivery of the same message (sent on purpose while it runs) starts it again."""
    settings = cluster_settings(tmp_path / "data", chroma=chroma, database=pg_url, prefix=prefix)
    env = worker_env(settings, TACTFUL_JOB_LEASE_S="1", TACTFUL_QUEUE_HEARTBEAT_S="2")
    docs = many_documents(8)  # 80 chunks: several seconds of embedding
    with ExitStack() as stack:
        workers = [Worker(env, tmp_path / f"worker-{i}.log") for i in (1, 2)]
        for w in workers:
            stack.callback(w.stop)
        app = stack.enter_context(web(settings, build_embeddings(settings)))
        r = app.post("/v1/documents", json={"documents": [document_json(d) for d in docs]}, headers=auth("knowledge"))
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        db = app.app.state.container.db  # type: ignore[attr-defined]
        queue = JobQueue(REDIS_URL, prefix=prefix, heartbeat_s=2)
        stack.callback(queue.stop)
        wait_for(lambda: job_row(db, job_id).status == "running", timeout=60, what="the job to start")
        started = time.monotonic()
        queue.send(job_id)  # a duplicate delivery while it runs
        queue.send(job_id)
        owners = set()
        while (row := job_row(db, job_id)).status == "running":
            owners.add(row.lease_owner)
            assert time.monotonic() - started < 240, "the job never finished"
            time.sleep(0.1)
        assert row.status == "succeeded", row.error
        assert time.monotonic() - started > 3  # it outlived its 1 s lease several times
        assert row.attempts == 1 and len(owners) == 1  # claimed once, by one worker, never taken over
        # The worker logs the job's end just after recording it: give the line a moment to reach the log.
        wait_for(
            lambda: any(": ran" in line for w in workers for line in w.lines(f"job {job_id}: ")),
            timeout=10, what="the worker to log the job's end",
        )  # fmt: skip
        ran = [line for w in workers for line in w.lines(f"job {job_id}: ")]
        assert sum(": ran" in line for line in ran) == 1
        assert any(": held" in line for line in ran), ran  # the duplicates were refused while it ran


def test_claims_are_exclusive_and_leases_expire(database_url: str) -> None:
    """The claim protocol itself, on SQLite and PostgreSQL: one owner at a time, one job at a time, takeover only
    after the lease ran out, and a job whose workers kept dying is failed."""
    db = Database(database_url)
    with db.session() as s:
        first = repo.create_job(s, kind="reindex_incremental", payload={}, total=0).id
        second = repo.create_job(s, kind="reindex_incremental", payload={}, total=0).id

    def claim(job_id: str, owner: str, *, lease_s: float = 30, max_attempts: int = 2) -> str:
        with db.session() as s:
            return repo.claim_job(s, job_id, owner=owner, lease_s=lease_s, max_attempts=max_attempts)

    outcomes: list[str] = []
    threads = [threading.Thread(target=lambda o=o: outcomes.append(claim(first, o))) for o in ("w1", "w2", "w3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["claimed", "held", "held"]
    assert claim(second, "w2") == "busy"  # one job of the knowledge base at a time
    owner = job_row(db, first).lease_owner
    assert owner in ("w1", "w2", "w3")
    with db.session() as s:
        assert repo.renew_lease(s, first, owner="w9", lease_s=30) is False  # only its owner renews it
        assert repo.renew_lease(s, first, owner=owner, lease_s=0.01) is True
    time.sleep(0.05)  # the owner died: its lease ran out
    with db.session() as s:
        assert repo.stranded_jobs(s) == [first]
    assert claim(first, "w4") == "claimed"
    with db.session() as s:
        assert repo.renew_lease(s, first, owner=owner, lease_s=30) is False  # the old owner must stop
        assert repo.renew_lease(s, first, owner="w4", lease_s=0.01) is True
    time.sleep(0.05)
    assert claim(first, "w5") == "gave_up"  # two workers died on it
    row = job_row(db, first)
    assert row.status == "failed" and "gave up" in str(row.error) and row.attempts == 2
    assert claim(first, "w6") == "done" and claim("no-such-job", "w6") == "done"
    assert claim(second, "w6") == "claimed"
    db.dispose()


# --- configuration and Redis outages --------------------------------------------------------------------------------


def test_the_worker_refuses_embedded_chroma_and_a_missing_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path))
    assert main(["worker"]) == 2
    assert "TACTFUL_QUEUE_URL is empty" in capsys.readouterr().err
    monkeypatch.setenv("TACTFUL_QUEUE_URL", REDIS_URL)
    assert main(["worker"]) == 2
    err = capsys.readouterr().err
    assert "embedded Chroma cannot be shared between processes" in err and "TACTFUL_CHROMA_URL" in err
    with pytest.raises(ConfigError, match="TACTFUL_CHROMA_URL"):
        create_app(make_settings(tmp_path, queue_url=REDIS_URL))  # nor does a web process with a queue
    with pytest.raises(ValueError, match="queue_url"):
        make_settings(tmp_path, queue_url="http://127.0.0.1:6379")


def test_with_redis_unreachable_the_service_answers_and_runs_jobs_in_process(tmp_path: Path) -> None:
    down = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    settings = make_settings(tmp_path / "data", redis_url=down, tone_learned_sarcasm=False)
    with TestClient(create_app(settings)) as client:
        knowledge = client.app.state.container.knowledge  # type: ignore[attr-defined]
        assert knowledge.job_queue is None and knowledge.shared is not None
        assert knowledge.shared.read() is None  # unreachable: no version, and no error
        assert client.get("/healthz").json() == {"status": "ok"}
        r = client.post("/v1/documents", json={"documents": [document_json(d) for d in small_kb()]},
                        headers=auth("knowledge"))  # fmt: skip
        assert r.status_code == 202, r.text
        assert knowledge.wait(r.json()["job_id"], timeout=120)["status"] == "succeeded"  # ran on the thread
        assert "late-parcel-en" in search_ids(client, "il pacco è in ritardo")
        assert client.delete("/v1/documents/late-parcel-en", headers=auth("knowledge")).status_code == 204
        assert "late-parcel-en" not in search_ids(client, "il pacco è in ritardo")
        knowledge.follow()  # a tick of the follower thread, Redis still down: nothing breaks
        assert client.get("/healthz").status_code == 200


def test_with_the_queue_unreachable_a_submission_is_a_503_and_its_job_failed(
    tmp_path: Path,
    chroma: str,
) -> None:
    down = f"redis://127.0.0.1:{_free_port()}/0"
    settings = make_settings(tmp_path / "data", chroma_url=chroma, queue_url=down, tone_learned_sarcasm=False)
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/documents", json=document_json(small_kb()[0]), headers=auth("knowledge"))
        assert r.status_code == 503 and r.json()["error"]["code"] == "knowledge_base_unavailable", r.text
        with client.app.state.container.db.session() as s:  # type: ignore[attr-defined]
            (row,) = s.scalars(sa.select(JobRow)).all()
            assert row.status == "failed" and "not queued" in str(row.error)
        assert client.get("/healthz").status_code == 200
        assert client.post("/v1/search", json={"query": "refund"}, headers=auth("agent")).status_code == 200


# --- the shared index version through a Redis outage, and a full re-index switched in a worker -----------------------


def test_web_processes_follow_jobs_run_elsewhere_through_a_redis_outage_and_a_full_reindex(
    tmp_path: Path,
    chroma: str,
) -> None:
    """A web process and a worker's knowledge service on one database and Chroma server, the version in a Redis that
    is stopped and started again (losing its data): the web process serves what it has while Redis is down, catches
    up when it is back, and follows a full re-index's switch from the database alone; the replaced collection stays
    until its grace has passed."""
    port = _free_port()
    settings = make_settings(
        tmp_path / "data", chroma_url=chroma, redis_url=f"redis://127.0.0.1:{port}/0", tone_learned_sarcasm=False
    )
    embeddings = build_embeddings(settings)
    web_side = Container.build(settings, embeddings=embeddings)
    worker_db = Database(settings.database)
    store = ChromaStore.open(data_dir=settings.data_dir, url=chroma, embeddings=embeddings)
    worker_side = KnowledgeService(
        worker_db, Indexer(store, worker_db.engine), HybridRetriever(store), serving=False,
        shared=SharedVersion(settings.redis_url, prefix=settings.redis_prefix),
    )  # fmt: skip
    lease = Lease(owner="test-worker", seconds=30, max_attempts=3)
    web = web_side.knowledge
    web.follow_every_s = 3600  # the test calls follow() itself, as the follower thread would each second

    def run(kind: str, payload: dict[str, Any]) -> None:
        with worker_db.session() as s:
            job_id = repo.create_job(s, kind=kind, payload=payload, total=0).id
        assert worker_side.run_queued(job_id, lease=lease) == "ran"
        assert worker_side.job(job_id)["status"] == "succeeded"

    def found(document_id: str) -> bool:
        return any(p.document_id == document_id for p in web.search("il pacco è in ritardo", k=5, language="it"))

    late, refunds = (d for d in small_kb() if d.id in ("late-parcel-en", "rimborsi-it"))
    try:
        with redis_server(port) as server:
            web_side.start()
            worker_side.start()
            run("upsert", {"documents": [asdict(refunds)]})
            before = web.version()  # the web process's reloads: each one bumps it
            web.follow()
            assert web.version() == before + 1 and found("rimborsi-it")
            web.follow()
            assert web.version() == before + 1  # nothing new: no reload

            server.kill()
        run("upsert", {"documents": [asdict(late)]})  # Redis is down: the worker cannot tell anyone
        web.follow()
        assert web.version() == before + 1  # the index it has (searches still answer)
        assert found("rimborsi-it")
        with redis_server(port):  # back, and empty
            web.follow()
            assert web.version() == before + 2 and found("late-parcel-en")

            old = web.active_collection
            run("reindex_full", {})
            assert store.names() == sorted([old, worker_side._write_collection()])  # the old one is retired, not gone
            assert found("late-parcel-en") and web.active_collection == old  # still serving the old one, no error
            server_down = SharedVersion(f"redis://127.0.0.1:{_free_port()}/0", prefix="x")
            web.shared, shared = server_down, web.shared  # the switch is followed from the database alone
            web.follow()
            assert web.active_collection != old and found("late-parcel-en")
            web.shared = shared
            worker_side.drop_retired()
            assert old in store.names()  # within its grace
            worker_side.retire_grace_s = 0
            worker_side.drop_retired()
            assert store.names() == [web.active_collection]
    finally:
        web_side.stop()
        worker_db.dispose()


# --- several web worker processes -------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while being read
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_with_two_workers_runs_two_processes_that_answer(tmp_path: Path, chroma: str, prefix: str) -> None:
    settings = cluster_settings(
        tmp_path / "data", chroma=chroma, database=f"sqlite:///{tmp_path / 'tactful.db'}", prefix=prefix
    )
    env = worker_env(settings, TACTFUL_API_KEYS=API_KEYS)
    exe = Path(sys.executable).parent / "tactful"
    tactful = [str(exe)] if exe.exists() else [sys.executable, "-m", "api.cli"]
    subprocess.run([*tactful, "migrate"], env=env, cwd=tmp_path, check=True, capture_output=True)  # once, first
    port = _free_port()
    with (tmp_path / "serve.log").open("w") as log:
        proc = subprocess.Popen([*tactful, "serve", "--workers", "2", "--port", str(port)], env=env, cwd=tmp_path,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: _healthy(url), timeout=120, what="tactful serve --workers 2")
            workers = wait_for(lambda: len(_children(proc.pid)) >= 2 or None, timeout=60, what="two web workers")
            assert workers
            for _ in range(12):  # the kernel spreads new connections over the workers
                r = httpx.get(f"{url}/v1/documents", headers=auth("knowledge"), timeout=30)
                assert r.status_code == 200, r.text
            # Workers that cannot answer for 8 s (stopped here; starved of CPU or busy in a real one) are slow, not
            # hung: the master keeps them (with uvicorn's default health check, 5 s, it replaced one, and its streams).
            paused = _children(proc.pid)
            for pid in paused:
                os.kill(pid, signal.SIGSTOP)
            time.sleep(8)
            for pid in paused:
                with suppress(ProcessLookupError):  # one the master took for hung is gone
                    os.kill(pid, signal.SIGCONT)
            r = httpx.get(f"{url}/v1/documents", headers=auth("knowledge"), timeout=30)
            assert r.status_code == 200, r.text
            assert set(_children(proc.pid)) == set(paused)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    assert "Started parent process" in (tmp_path / "serve.log").read_text()


def test_serve_with_workers_refuses_what_processes_cannot_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TACTFUL_API_KEYS", API_KEYS)
    assert main(["serve", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "TACTFUL_CHROMA_URL and TACTFUL_QUEUE_URL" in err
    monkeypatch.setenv("TACTFUL_CHROMA_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("TACTFUL_QUEUE_URL", REDIS_URL)
    assert main(["serve", "--workers", "2", "--demo"]) == 2
    assert "--demo" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "--workers", "0"])
