"""Requests per minute per API key, in this process (a token bucket per key: bursts up to the limit, refilled
evenly). Shared limits across workers need Redis (issue 10)."""

from __future__ import annotations

import hashlib
import threading
import time


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}  # key digest -> (tokens, last refill)
        self._lock = threading.Lock()

    def wait_for(self, key: str, *, now: float | None = None) -> float:
        """0 when ``key`` may make a request now (and it is counted), else the seconds until it may."""
        if self.per_minute <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(digest, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[digest] = (tokens - 1.0, now)
                return 0.0
            self._buckets[digest] = (tokens, now)
            return (1.0 - tokens) / rate
