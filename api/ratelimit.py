"""Requests per minute per API key: a token bucket per key (bursts up to the limit, refilled evenly). In this
process by default; across every process when Redis holds shared state (``api.shared_limits``)."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Protocol


class Limiter(Protocol):
    """What the API's middleware asks before a ``/v1`` request."""

    async def wait(self, key: str) -> float:
        """0 when ``key`` may make a request now (and it is counted), else the seconds until it may."""
        ...

    async def aclose(self) -> None: ...


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}  # key digest -> (tokens, last refill)
        self._lock = threading.Lock()

    async def wait(self, key: str) -> float:
        return self.wait_for(key)

    async def aclose(self) -> None:
        return None

    def wait_for(self, key: str, *, now: float | None = None) -> float:
        """0 when ``key`` may make a request now (and it is counted), else the seconds until it may."""
        if self.per_minute <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        digest = key_digest(key)
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(digest, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[digest] = (tokens - 1.0, now)
                return 0.0
            self._buckets[digest] = (tokens, now)
            return (1.0 - tokens) / rate


def key_digest(key: str) -> str:
    """How a key is remembered (in this process's buckets and in Redis): never the key itself."""
    return hashlib.sha256(key.encode()).hexdigest()[:24]
