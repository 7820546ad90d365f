"""State the processes of one deployment share through Redis (``TACTFUL_REDIS_URL``): the knowledge base's index
version, and what each version changed (which documents), so that a process catching up reads only those; and the
query vectors one process embedded, so that the others need not embed them again. The only
module talking to Redis itself (the queue reaches Redis through dramatiq, ``api/queue.py``, which only catches
redis' errors).

Redis is a convenience here, never a dependency of a request: when it cannot be reached, reads answer ``None``, the
caller keeps what it has, and the outage is logged once (and its end once).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import redis

log = logging.getLogger("tactful.shared")
TIMEOUT_S = 0.5
CHANGES_TTL_S = 3600  # a version's change is kept this long: a process further behind reloads the whole index
VECTORS_TTL_S = 3600  # a shared query vector: an hour covers a live conversation (texts are keyed by their hash)
RETRY_S = 10.0  # how long a process leaves Redis alone after it failed to answer
# The version and its change in one step: a process that reads the new version always finds its change.
_BUMP_WITH_CHANGE = """
local version = redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2] .. version, ARGV[1], 'EX', ARGV[2])
return version
"""


@dataclass(frozen=True)
class IndexChange:
    """What one version changed: the documents of ``collection`` whose chunks to read again (changed, added or
    deleted). A version without one (a full re-index, a change Redis was away for) means: reload the whole index."""

    collection: str
    documents: tuple[str, ...]


class SharedVersion:
    """A counter every process can read and bump: ``<prefix>:index_version``; each version's change, if it was a
    change of some documents, at ``<prefix>:index_changes:<version>`` (for ``CHANGES_TTL_S``)."""

    def __init__(self, url: str, *, prefix: str) -> None:
        self.key = f"{prefix}:index_version"
        self.changes_key = f"{prefix}:index_changes:"
        self._redis = redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
        self._down = False

    def read(self) -> int | None:
        """The version now, ``0`` before the first bump, ``None`` when Redis cannot be reached."""
        try:
            value = self._redis.get(self.key)
        except redis.RedisError as exc:
            self._mark_down(exc)
            return None
        self._mark_up()
        return int(value or 0)

    def bump(self, change: IndexChange | None = None) -> int | None:
        """Tell every process that what search may find changed (``change``: only those documents; none: anything);
        the new version, or ``None`` if Redis is down."""
        try:
            if change is None:
                value = int(self._redis.incr(self.key))
            else:
                entry = json.dumps({"collection": change.collection, "documents": list(change.documents)})
                value = int(self._redis.eval(_BUMP_WITH_CHANGE, 2, self.key, self.changes_key, entry, CHANGES_TTL_S))
        except redis.RedisError as exc:
            self._mark_down(exc)
            return None
        self._mark_up()
        return value

    def changes(self, after: int, upto: int) -> list[IndexChange | None] | None:
        """The changes of versions ``after + 1`` to ``upto``, in order (``None`` for a version that recorded none or
        whose record expired); ``None`` when Redis cannot be reached."""
        if upto <= after:
            return []
        try:
            values = self._redis.mget([f"{self.changes_key}{v}" for v in range(after + 1, upto + 1)])
        except redis.RedisError as exc:
            self._mark_down(exc)
            return None
        self._mark_up()
        return [None if value is None else _change(value) for value in values]

    def close(self) -> None:
        self._redis.close()

    def _mark_down(self, exc: Exception) -> None:
        if not self._down:
            log.warning("Redis unreachable (%s): serving the index this process has until it is back", exc)
        self._down = True

    def _mark_up(self) -> None:
        if self._down:
            log.info("Redis reachable again")
        self._down = False


class SharedVectors:
    """Query vectors every web process can read (``kb_index.embeddings.QueryCache.share``): a conversation's calls
    land on any process, and each would otherwise embed the same customer sentences again (40-60 ms each on 2
    cores). ``<prefix>:vec:<namespace>:<sha1 of the text>`` holds float32 bytes for ``VECTORS_TTL_S``.

    While Redis cannot be reached it is not asked again for ``RETRY_S``: a request never waits on it twice."""

    def __init__(self, url: str, *, prefix: str, ttl_s: int = VECTORS_TTL_S) -> None:
        self.prefix = f"{prefix}:vec:"
        self.ttl_s = ttl_s
        self._redis = redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
        self._down_until = 0.0

    def fetch(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        if not keys or time.monotonic() < self._down_until:
            return {}
        try:
            values = self._redis.mget([self.prefix + k for k in keys])
        except redis.RedisError as exc:
            self._mark_down(exc)
            return {}
        self._mark_up()
        return {
            k: np.frombuffer(v, dtype=np.float32).copy()
            for k, v in zip(keys, values, strict=True)
            if isinstance(v, bytes) and v
        }

    def store(self, vectors: Mapping[str, np.ndarray]) -> None:
        if not vectors or time.monotonic() < self._down_until:
            return
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for key, vec in vectors.items():
                    pipe.set(self.prefix + key, np.asarray(vec, dtype=np.float32).tobytes(), ex=self.ttl_s)
                pipe.execute()
        except redis.RedisError as exc:
            self._mark_down(exc)
            return
        self._mark_up()

    def close(self) -> None:
        self._redis.close()

    def _mark_down(self, exc: Exception) -> None:
        if not self._down_until:
            log.warning("Redis unreachable (%s): each process embeds its own query vectors until it is back", exc)
        self._down_until = time.monotonic() + RETRY_S

    def _mark_up(self) -> None:
        if self._down_until:
            log.info("Redis reachable again: query vectors shared")
        self._down_until = 0.0


def _change(value: bytes | str) -> IndexChange:
    entry = json.loads(value)
    return IndexChange(collection=str(entry["collection"]), documents=tuple(str(d) for d in entry["documents"]))
