"""The per-key rate limit and the LLM circuit breaker, shared by every process of a deployment through Redis
(``TACTFUL_REDIS_URL``), each with its in-process twin (``api.ratelimit.RateLimiter``,
``assist.llm.CircuitBreaker``) answering while Redis cannot.

A module of its own beside ``api/shared_state.py`` (the index version): these are asked on the request path, so
an outage is remembered for ``RETRY_S`` (requests do not each wait for a timeout) and logged once, and its end
once. Every decision is one Lua script on Redis's clock, so processes on several machines agree without agreeing
on the time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import cast

import redis
import redis.asyncio

from api.ratelimit import RateLimiter, key_digest
from api.shared_state import TIMEOUT_S
from assist.llm import CircuitBreaker
from assist.ports import BreakerState

log = logging.getLogger("tactful.shared")
RETRY_S = 1.0  # after Redis failed, the in-process twin answers alone this long before Redis is asked again
BREAKER_KEPT_MS = 86_400_000  # a breaker left alone this long past its reset time is forgotten (closed)

# A token bucket kept as its "theoretical arrival time" (GCRA): one key per API key, the same bursts and even
# refill as the in-process limiter. KEYS[1]: the key's time (µs); ARGV: µs between requests, the burst.
# Answers 0 (counted) or the µs to wait.
_RATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat + interval - interval * tonumber(ARGV[2])
if now < allow_at then return math.ceil(allow_at - now) end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return 0
"""
# The breaker: KEYS[1] a hash of the failures in a row and the time (ms) it is open until; KEYS[2] the probes
# let through since it turned half-open (expiring, so a probe that never reports frees its place).
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
"""
_STATE = (
    _NOW_MS
    + """
if open_until == 0 then return 'closed' end
if now < open_until then return 'open' end
return 'half_open'
"""
)
# ARGV: the probes allowed at once, how long a probe may take (ms).
_ALLOW = (
    _NOW_MS
    + """
if open_until == 0 then return 1 end
if now < open_until then return 0 end
local probes = redis.call('INCR', KEYS[2])
if probes == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
if probes <= tonumber(ARGV[1]) then return 1 end
return 0
"""
)
# ARGV: the failures in a row that open it, how long it stays open (ms), how long the hash is kept (ms).
_FAILURE = (
    _NOW_MS
    + """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if (open_until > 0 and now >= open_until) or failures >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'open_until', string.format('%.0f', now + tonumber(ARGV[2])))
  redis.call('DEL', KEYS[2])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]))
return failures
"""
)


class Outage:
    """Whether to ask Redis now, and the log of an outage: a warning when it starts, a line when it ends."""

    def __init__(self, what: str, *, retry_s: float = RETRY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.retry_s = retry_s
        self._clock = clock
        self._lock = threading.Lock()
        self._down = False
        self._retry_at = 0.0

    @property
    def down(self) -> bool:
        return self._down

    def should_ask(self) -> bool:
        return not self._down or self._clock() >= self._retry_at

    def failed(self, exc: Exception) -> None:
        with self._lock:
            self._retry_at = self._clock() + self.retry_s
            if self._down:
                return
            self._down = True
        log.warning("Redis unreachable (%s): %s in this process only until it is back", exc, self.what)

    def recovered(self) -> None:
        with self._lock:
            if not self._down:
                return
            self._down = False
        log.info("Redis reachable again: %s shared again", self.what)


class SharedRateLimiter:
    """Requests per minute per API key across every process: ``<prefix>:rate:<key digest>`` in Redis. While
    Redis cannot be reached, each process counts alone (``local``), so the limit is per process meanwhile."""

    def __init__(self, url: str, *, prefix: str, per_minute: int, retry_s: float = RETRY_S) -> None:
        self.per_minute = per_minute
        self.local = RateLimiter(per_minute)
        self.outage = Outage("rate limits counted", retry_s=retry_s)
        self._prefix = f"{prefix}:rate:"
        self._redis = redis.asyncio.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
        self._script = self._redis.register_script(_RATE)

    async def wait(self, key: str) -> float:
        """0 when ``key`` may make a request now (and it is counted), else the seconds until it may."""
        if self.per_minute <= 0:
            return 0.0
        if self.outage.should_ask():
            try:
                micros = await self._script(keys=[self._prefix + key_digest(key)], args=[60e6 / self.per_minute,
                                                                                      self.per_minute])  # fmt: skip
            except redis.RedisError as exc:
                self.outage.failed(exc)
            else:
                self.outage.recovered()
                return int(micros) / 1e6
        return self.local.wait_for(key)

    async def aclose(self) -> None:
        await self._redis.aclose()


class SharedBreaker:
    """The LLM endpoint's circuit breaker across every process: ``<prefix>:llm_breaker:<endpoint digest>`` (a
    hash: failures in a row, open until) and ``…:probes``. Opened by failures seen in any process, open for all;
    once its reset time passed, at most ``probes`` calls (in any processes) try the endpoint until one reports.
    While Redis cannot be reached, this process's own breaker (``local``) decides."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        endpoint: str,
        failures: int = 3,
        reset_s: float = 30.0,
        probes: int = 1,
        probe_s: float = 10.0,
        retry_s: float = RETRY_S,
    ) -> None:
        self.threshold = failures
        self.local = CircuitBreaker(failures=failures, reset_s=reset_s)
        self.outage = Outage("the LLM breaker decides", retry_s=retry_s)
        self._reset_ms = max(0, round(reset_s * 1000))
        self._probes = probes
        self._probe_ms = max(1, round(probe_s * 1000))
        key = f"{prefix}:llm_breaker:{key_digest(endpoint)}"
        self._keys = [key, f"{key}:probes"]
        self._redis = redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
        self._state = self._redis.register_script(_STATE)
        self._allow = self._redis.register_script(_ALLOW)
        self._failure = self._redis.register_script(_FAILURE)

    @property
    def state(self) -> BreakerState:
        answer = self._ask(lambda: self._state(keys=self._keys))
        return self.local.state if answer is None else cast(BreakerState, _text(answer))

    def allow(self) -> bool:
        """Whether a call may go out now (half-open: only while fewer than ``probes`` are out)."""
        answer = self._ask(lambda: self._allow(keys=self._keys, args=[self._probes, self._probe_ms]))
        return self.local.allow() if answer is None else bool(answer)

    def success(self) -> None:
        if self._ask(lambda: self._redis.delete(*self._keys)) is None:
            self.local.success()

    def failure(self) -> None:
        args = [self.threshold, self._reset_ms, BREAKER_KEPT_MS]
        if self._ask(lambda: self._failure(keys=self._keys, args=args)) is None:
            self.local.failure()

    def close(self) -> None:
        self._redis.close()

    def _ask(self, command: Callable[[], object]) -> object | None:
        """Redis's answer, or ``None`` when it cannot be reached (or was not, moments ago)."""
        if not self.outage.should_ask():
            return None
        try:
            answer = command()
        except redis.RedisError as exc:
            self.outage.failed(exc)
            return None
        self.outage.recovered()
        return answer


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
