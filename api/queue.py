"""The indexing job queue (``TACTFUL_QUEUE_URL``): dramatiq on Redis. The only module importing dramatiq.

A message carries a job's id and nothing else: the job's row in the database says what to do and how it went
(``api/services/knowledge.py``). Why dramatiq, and its pitfalls, in docs/deploy.md ("Choosing the queue").

- No middleware: dramatiq's ``TimeLimit`` would kill a full re-index after 10 minutes, and attempts are counted on
  the job row rather than by dramatiq's ``Retries``.
- Maintenance (putting back the messages of a worker silent for ``heartbeat_s``) on every broker command rather than
  on one in a thousand, so a killed worker's job comes back within ``heartbeat_s``, not many minutes later.
- The worker's consumer prefetches more messages than it has threads, so it keeps fetching, which is its
  heartbeat, while a long job runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import dramatiq
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker
from dramatiq.errors import DramatiqError
from redis import RedisError  # what dramatiq's Redis broker lets through when Redis is away

from assist.errors import KnowledgeBaseUnavailable

log = logging.getLogger("tactful.queue")
QUEUE_NAME = "indexing"
ACTOR_NAME = "tactful_job"
Handler = Callable[[str], None]


class JobQueue:
    """Send job ids (web processes) and run them (``tactful worker``)."""

    def __init__(self, url: str, *, prefix: str, heartbeat_s: float) -> None:
        self.broker = RedisBroker(
            url=url,
            namespace=f"{prefix}:jobs",
            middleware=[],
            heartbeat_timeout=int(heartbeat_s * 1000),
            maintenance_chance=MAINTENANCE_SCALE,
        )
        self._handler: Handler | None = None
        declare = dramatiq.actor(broker=self.broker, actor_name=ACTOR_NAME, queue_name=QUEUE_NAME)
        self._actor = declare(self._run)
        self._worker: dramatiq.Worker | None = None

    def send(self, job_id: str, *, delay_s: float = 0) -> None:
        """Put ``job_id`` on the queue (after ``delay_s``); ``KnowledgeBaseUnavailable`` when Redis cannot take it."""
        try:
            self._actor.send_with_options(args=(job_id,), delay=int(delay_s * 1000) or None)
        except (DramatiqError, RedisError, OSError) as exc:
            raise KnowledgeBaseUnavailable(f"the job queue cannot be reached: {exc}") from exc

    def pending(self) -> int:
        """Messages waiting (not counting those a worker holds)."""
        return int(self.broker.do_qsize(QUEUE_NAME))

    def consume(self, handler: Handler, *, threads: int = 1) -> None:
        """Start running jobs with ``handler`` on ``threads`` threads (returns at once; ``stop`` ends it)."""
        self._handler = handler
        self._worker = dramatiq.Worker(self.broker, worker_threads=threads, worker_timeout=500)
        self._worker.start()

    def stop(self, *, timeout_s: float = 30) -> None:
        if self._worker is not None:
            self._worker.stop(timeout=int(timeout_s * 1000))
            self._worker = None
        self.broker.close()

    def _run(self, job_id: str) -> None:
        if self._handler is None:  # a web process never consumes
            raise RuntimeError("this process does not run jobs")
        self._handler(job_id)
