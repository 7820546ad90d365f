"""State the processes of one deployment share through Redis (``TACTFUL_REDIS_URL``): the knowledge base's index
version. The only module talking to Redis itself (the queue reaches Redis through dramatiq, ``api/queue.py``, which
only catches redis' errors).

Redis is a convenience here, never a dependency of a request: when it cannot be reached, reads answer ``None``, the
caller keeps what it has, and the outage is logged once (and its end once).
"""

from __future__ import annotations

import logging

import redis

log = logging.getLogger("tactful.shared")
TIMEOUT_S = 0.5


class SharedVersion:
    """A counter every process can read and bump: ``<prefix>:index_version``."""

    def __init__(self, url: str, *, prefix: str) -> None:
        self.key = f"{prefix}:index_version"
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

    def bump(self) -> int | None:
        """Tell every process that what search may find changed; the new version, or ``None`` if Redis is down."""
        try:
            value = int(self._redis.incr(self.key))
        except redis.RedisError as exc:
            self._mark_down(exc)
            return None
        self._mark_up()
        return value

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
