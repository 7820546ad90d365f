"""``tactful worker``: runs indexing jobs from the queue (``TACTFUL_QUEUE_URL``), one at a time, on a Chroma server.

Each delivered job id is run through ``KnowledgeService.run_queued``, which claims the job's row under a lease. A
message that finds the job held by another live worker, or another job running, is sent again later rather than
dropped, so someone keeps watching a job until it has finished. Every lease period the worker also sends again the
jobs whose lease ran out (their worker died) and, at start, the jobs still waiting: the rows are the truth, and a
Redis that lost its messages loses no job. Why this shape: docs/deploy.md.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import uuid
from types import FrameType

from sqlalchemy.exc import SQLAlchemyError

from api.container import build_embeddings, build_queue, build_shared_version
from api.persistence import knowledge_repo as repo
from api.persistence.database import Database
from api.queue import JobQueue
from api.services.knowledge import KnowledgeService, Lease
from api.settings import ConfigError, Settings
from assist.errors import KnowledgeBaseUnavailable
from kb_index.errors import KnowledgeError
from kb_index.indexing import Indexer
from kb_index.retrieval import HybridRetriever
from kb_index.store import ChromaStore

log = logging.getLogger("tactful.worker")
BUSY_RETRY_S = 2.0  # another job runs: look again this soon


class JobWorker:
    """Runs what the queue delivers, and sends again what the queue may have lost."""

    def __init__(self, knowledge: KnowledgeService, queue: JobQueue, lease: Lease) -> None:
        self.knowledge = knowledge
        self.queue = queue
        self.lease = lease

    def handle(self, job_id: str) -> None:
        try:
            outcome = self.knowledge.run_queued(job_id, lease=self.lease)
        except (SQLAlchemyError, KnowledgeError, OSError) as exc:
            # The database or Chroma is away. Never let the message die with the error: look again in a while (a
            # job already claimed is also sent again by the sweep once its lease runs out).
            log.warning("job %s: cannot run it now (%s); trying again in %s s", job_id, exc, self.lease.seconds)
            self._send(job_id, delay_s=self.lease.seconds)
            return
        log.info("job %s: %s", job_id, outcome)
        if outcome == "held":  # another worker runs it: look again when its lease would have run out
            self._send(job_id, delay_s=self.lease.seconds)
        elif outcome == "busy":
            self._send(job_id, delay_s=min(BUSY_RETRY_S, self.lease.seconds))

    def sweep(self, *, waiting: bool = False) -> None:
        """Send again the jobs whose worker is gone (and, with ``waiting``, those never started); tell Redis about a
        change it was away for; drop the collections re-indexes replaced, past their grace."""
        self.knowledge.retry_publish()
        try:
            self.knowledge.drop_retired()
            with self.knowledge.db.session() as s:
                stranded, queued = repo.stranded_jobs(s), repo.waiting_jobs(s) if waiting else []
        except (SQLAlchemyError, KnowledgeError, OSError) as exc:  # the database or Chroma is away: next time
            log.warning("sweep skipped: %s", exc)
            return
        for job_id in stranded:
            log.info("job %s: sent again (its worker is gone)", job_id)
            self._send(job_id)
        for job_id in queued:
            log.info("job %s: sent again (waiting)", job_id)
            self._send(job_id)

    def _send(self, job_id: str, *, delay_s: float = 0) -> None:
        try:
            self.queue.send(job_id, delay_s=delay_s)
        except KnowledgeBaseUnavailable as exc:  # Redis is away: the next sweep sends it again
            log.warning("job %s: %s", job_id, exc.message)


def _lease(settings: Settings) -> Lease:
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    return Lease(owner=owner[-80:], seconds=settings.job_lease_s, max_attempts=settings.job_max_attempts)


def check_can_work(settings: Settings) -> None:
    if not settings.queue_url:
        raise ConfigError("TACTFUL_QUEUE_URL is empty: set the Redis that holds the job queue (redis://host:6379/0)")
    settings.check_can_share()


def run_worker(settings: Settings, *, stop: threading.Event | None = None) -> int:
    """Run jobs until ``stop`` is set (SIGTERM and SIGINT set it). Returns the process's exit status."""
    try:
        check_can_work(settings)
    except ConfigError as exc:
        print(f"tactful worker: {exc}", file=sys.stderr)
        return 2
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # as Container.build: Chroma reads it in some code paths
    stop = stop or threading.Event()
    _on_signals(stop)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database)
    queue, shared = build_queue(settings), build_shared_version(settings)
    assert queue is not None  # check_can_work: a queue is configured
    try:
        store = ChromaStore.open(
            data_dir=settings.data_dir,
            url=settings.chroma_url,
            embeddings=build_embeddings(settings),
            timeout_s=settings.chroma_timeout_s,
        )
        knowledge = KnowledgeService(
            db,
            Indexer(store, db.engine, units=settings.index_units),
            HybridRetriever(store),
            job_queue=queue,
            shared=shared,
            serving=False,
            retire_grace_s=settings.reindex_grace_s,
        )
        knowledge.start()
    except KnowledgeError as exc:
        print(f"tactful worker: {exc}", file=sys.stderr)
        return 1
    lease = _lease(settings)
    worker = JobWorker(knowledge, queue, lease)
    print(f"tactful worker {lease.owner}: jobs from {settings.redis_prefix}:jobs, Chroma at {settings.chroma_url}",
          flush=True)  # fmt: skip
    try:
        worker.sweep(waiting=True)
        queue.consume(worker.handle, threads=1)  # one job at a time: jobs of one knowledge base never overlap
        while not stop.wait(settings.job_lease_s):
            worker.sweep()
    finally:
        queue.stop()
        if shared is not None:
            shared.close()
        db.dispose()
    return 0


def _on_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping (a job in hand not done within 30 s is run again elsewhere)", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
