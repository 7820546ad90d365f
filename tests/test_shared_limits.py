"""Rate limits and the LLM circuit breaker shared through Redis (``api/shared_limits.py``): one contract suite for
the in-process and the Redis implementations, two apps and two breakers sharing one Redis, and Redis unreachable,
silent or coming back (requests never fail for it; one warning an outage). The real Redis at 127.0.0.1:6379, a key
prefix per test."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from langchain_core.embeddings import Embeddings

from api.container import Container, build_embeddings, build_rate_limiter
from api.ratelimit import Limiter, RateLimiter
from api.shared_limits import SharedBreaker, SharedRateLimiter
from assist.llm import CircuitBreaker
from assist.ports import Breaker
from tests._services import redis_server
from tests.conftest import auth, make_settings
from tests.factories import conversation
from tests.fake_llm import FakeLLM, Reply

REDIS_URL = os.environ.get("TACTFUL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CLOSED = "redis://127.0.0.1:1/0"  # nothing listens there: refused at once


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="module")
def embeddings(tmp_path_factory: pytest.TempPathFactory) -> Embeddings:
    return build_embeddings(make_settings(tmp_path_factory.mktemp("e5")))


def outage_warnings(caplog: pytest.LogCaptureFixture, what: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and what in r.getMessage()]


# --- one contract, both limiters ---------------------------------------------------------------------------------


IMPLEMENTATIONS = {"in_process": "", "redis": REDIS_URL, "redis_unreachable": CLOSED}  # the last: its fallback


@pytest.fixture(params=IMPLEMENTATIONS)
def make_limiter(request: pytest.FixtureRequest, prefix: str) -> Callable[[int], Limiter]:
    def make(per_minute: int) -> Limiter:
        if request.param == "in_process":
            return RateLimiter(per_minute)
        return SharedRateLimiter(IMPLEMENTATIONS[request.param], prefix=prefix, per_minute=per_minute)

    return make


def test_a_limiter_lets_a_burst_of_its_limit_through_then_says_how_long_to_wait(
    make_limiter: Callable[[int], Limiter],
) -> None:
    async def run() -> None:
        limiter, off = make_limiter(60), make_limiter(0)  # one a second
        try:
            assert [await limiter.wait("k") for _ in range(60)] == [0.0] * 60
            assert 0.5 < await limiter.wait("k") <= 1.0
            assert await limiter.wait("other") == 0.0  # each key its own bucket
            assert [await off.wait("k") for _ in range(100)] == [0.0] * 100  # 0: no limit
        finally:
            await limiter.aclose()
            await off.aclose()

    asyncio.run(run())


# --- one contract, both breakers ---------------------------------------------------------------------------------


@pytest.fixture(params=IMPLEMENTATIONS)
def make_breaker(request: pytest.FixtureRequest, prefix: str) -> Iterator[Callable[..., Breaker]]:
    made: list[SharedBreaker] = []

    def make(*, failures: int, reset_s: float) -> Breaker:
        if request.param == "in_process":
            return CircuitBreaker(failures=failures, reset_s=reset_s)
        url = IMPLEMENTATIONS[request.param]
        made.append(SharedBreaker(url, prefix=prefix, endpoint="http://llm", failures=failures, reset_s=reset_s))
        return made[-1]

    yield make
    for breaker in made:
        breaker.close()


def test_a_breaker_opens_after_failures_in_a_row_and_lets_one_trial_through_after_its_reset_time(
    make_breaker: Callable[..., Breaker],
) -> None:
    breaker = make_breaker(failures=2, reset_s=0.3)
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert breaker.state == "closed" and breaker.allow()  # not in a row
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    time.sleep(0.35)
    assert breaker.state == "half_open" and breaker.allow() and not breaker.allow()  # one trial
    breaker.failure()  # the trial failed: open again for another reset time
    assert breaker.state == "open" and not breaker.allow()
    time.sleep(0.35)
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


# --- shared between processes ------------------------------------------------------------------------------------


def test_two_apps_on_one_redis_share_each_keys_limit(tmp_path: Path, prefix: str, embeddings: Embeddings) -> None:
    from api.app import create_app

    def app(name: str) -> TestClient:
        settings = make_settings(tmp_path / name, redis_url=REDIS_URL, redis_prefix=prefix, rate_limit_per_minute=4,
                                 tone_learned_sarcasm=False)  # fmt: skip
        return TestClient(create_app(settings, container=Container.build(settings, embeddings=embeddings)))

    with app("a") as a, app("b") as b:
        codes = [c.get("/v1/feedback/report", headers=auth("agent")).status_code for c in (a, b, a, b)]
        assert codes == [200] * 4
        for client in (a, b):  # the key's four a minute are spent, wherever they were spent
            refused = client.get("/v1/feedback/report", headers=auth("agent"))
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_requests"
            assert refused.headers["Retry-After"].isdigit() and int(refused.headers["Retry-After"]) >= 1
        assert a.get("/v1/flags", headers=auth("supervisor")).status_code == 200  # another key
        assert "tactful_rate_limited_total 1.0" in b.get("/metrics").text


def test_two_limiters_on_one_redis_count_together_and_other_prefixes_apart(prefix: str) -> None:
    async def run() -> None:
        a, b = (SharedRateLimiter(REDIS_URL, prefix=prefix, per_minute=6) for _ in range(2))
        elsewhere = SharedRateLimiter(REDIS_URL, prefix=f"{prefix}:other", per_minute=6)
        try:
            assert [await limiter.wait("k") for limiter in (a, b) * 3] == [0.0] * 6
            assert 9.0 < await a.wait("k") <= 10.0 and 9.0 < await b.wait("k") <= 10.0  # one every 10 s
            assert await elsewhere.wait("k") == 0.0  # another deployment on the same Redis
            assert not a.outage.down and not b.outage.down
        finally:
            for limiter in (a, b, elsewhere):
                await limiter.aclose()

    asyncio.run(run())


@contextmanager
def shared_breakers(prefix: str, count: int, **options: float) -> Iterator[list[SharedBreaker]]:
    made = [SharedBreaker(REDIS_URL, prefix=prefix, endpoint="http://llm", **options) for _ in range(count)]
    try:
        yield made
    finally:
        for breaker in made:
            breaker.close()


def test_a_breaker_opened_by_one_process_is_open_in_every_other(prefix: str) -> None:
    with shared_breakers(prefix, 2, failures=2, reset_s=30) as (a, b):
        a.failure()
        b.failure()  # failures in a row, wherever they happened
        assert a.state == b.state == "open" and not a.allow() and not b.allow()
        other = SharedBreaker(REDIS_URL, prefix=prefix, endpoint="http://another-llm", failures=2, reset_s=30)
        assert other.state == "closed" and other.allow()  # another endpoint, another breaker
        other.close()
        b.success()  # one answer anywhere closes it everywhere
        assert a.state == "closed" and a.allow()


def test_half_open_lets_a_bounded_number_of_processes_probe(prefix: str) -> None:
    with shared_breakers(prefix, 5, failures=1, reset_s=0.2, probes=2, probe_s=0.5) as breakers:
        breakers[0].failure()
        assert [b.allow() for b in breakers] == [False] * 5
        time.sleep(0.25)
        assert [b.allow() for b in breakers] == [True, True, False, False, False]
        time.sleep(0.55)  # the probes never reported (their processes died): two more may try
        assert [b.allow() for b in breakers] == [True, True, False, False, False]
        breakers[3].failure()  # a probe failed: open for everyone
        assert [b.state for b in breakers] == ["open"] * 5


def llm_app(data_dir: Path, *, llm: FakeLLM, redis_url: str, prefix: str, embeddings: Embeddings) -> TestClient:
    """A service whose LLM is ``llm``, its breaker opened by two assists without an answer."""
    from api.app import create_app

    settings = make_settings(
        data_dir, redis_url=redis_url, redis_prefix=prefix, llm_base_url=llm.url, llm_model="fake", llm_timeout_s=5,
        llm_max_retries=0, llm_cache_ttl_s=0, llm_breaker_failures=2, llm_breaker_reset_s=60,
        tone_learned_sarcasm=False,
    )  # fmt: skip
    return TestClient(create_app(settings, container=Container.build(settings, embeddings=embeddings)))


def assist_breaker(client: TestClient) -> str:
    answer = client.post("/v1/assist", json={"conversation": conversation()}, headers=auth("agent"))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["llm"]["breaker"])


def test_a_dead_llm_seen_by_one_app_is_not_called_by_the_other(
    tmp_path: Path, prefix: str, fake: FakeLLM, embeddings: Embeddings
) -> None:
    fake.behave = lambda _: Reply(status=500, content="down")
    a = llm_app(tmp_path / "a", llm=fake, redis_url=REDIS_URL, prefix=prefix, embeddings=embeddings)
    b = llm_app(tmp_path / "b", llm=fake, redis_url=REDIS_URL, prefix=prefix, embeddings=embeddings)
    with a, b:
        assert assist_breaker(a) == "closed" and assist_breaker(a) == "open"
        called = len(fake.requests)
        assert assist_breaker(b) == "open" and assist_breaker(b) == "open"
        assert len(fake.requests) == called  # b never tried the dead endpoint


# --- Redis away, silent, and back --------------------------------------------------------------------------------


def test_with_redis_unreachable_the_limit_is_counted_in_process_without_errors(
    tmp_path: Path, embeddings: Embeddings, caplog: pytest.LogCaptureFixture
) -> None:
    from api.app import create_app

    settings = make_settings(tmp_path / "data", redis_url=CLOSED, rate_limit_per_minute=3, tone_learned_sarcasm=False)
    with (
        caplog.at_level(logging.INFO, logger="tactful.shared"),
        TestClient(create_app(settings, container=Container.build(settings, embeddings=embeddings))) as client,
    ):
        answers = [client.get("/v1/feedback/report", headers=auth("agent")) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert int(answers[3].headers["Retry-After"]) >= 1
        assert client.get("/v1/flags", headers=auth("supervisor")).status_code == 200
    assert len(outage_warnings(caplog, "rate limits")) == 1  # once, not per request


def test_with_redis_unreachable_a_dead_llm_opens_each_apps_own_breaker_without_errors(
    tmp_path: Path, fake: FakeLLM, embeddings: Embeddings
) -> None:
    fake.behave = lambda _: Reply(status=500, content="down")
    with llm_app(tmp_path / "a", llm=fake, redis_url=CLOSED, prefix="x", embeddings=embeddings) as a:
        assert [assist_breaker(a) for _ in range(3)] == ["closed", "open", "open"]


def test_with_redis_unreachable_the_breaker_decides_in_process(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tactful.shared"):
        breaker = SharedBreaker(CLOSED, prefix="x", endpoint="http://llm", failures=2, reset_s=30)
        assert breaker.state == "closed" and breaker.allow()
        breaker.failure()
        breaker.failure()
        assert breaker.state == "open" and not breaker.allow() and breaker.local.state == "open"
        breaker.close()
    assert len(outage_warnings(caplog, "breaker")) == 1


@contextmanager
def silent_server() -> Iterator[str]:
    """A port that accepts connections and never answers: Redis hung, or a network dropping replies."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


def test_a_silent_redis_costs_one_timeout_a_retry_period_not_one_a_request() -> None:
    async def run() -> list[float]:
        limiter = SharedRateLimiter(url, prefix="x", per_minute=100)
        try:
            return [await limiter.wait("k") for _ in range(30)]
        finally:
            await limiter.aclose()

    with silent_server() as url:
        started = time.perf_counter()
        waits = asyncio.run(run())
        elapsed = time.perf_counter() - started
        breaker = SharedBreaker(url, prefix="x", endpoint="e", failures=3)
        started = time.perf_counter()
        allowed = [breaker.allow() for _ in range(30)]
        breaker_elapsed = time.perf_counter() - started
        breaker.close()
    assert waits == [0.0] * 30 and allowed == [True] * 30
    assert elapsed < 1.0 and breaker_elapsed < 1.0, (elapsed, breaker_elapsed)  # one 0.5 s timeout each


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_limits_and_breaker_are_shared_again_once_redis_is_back(caplog: pytest.LogCaptureFixture) -> None:
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"

    async def run() -> None:
        limiter = SharedRateLimiter(url, prefix="p", per_minute=10, retry_s=0.1)
        breaker = SharedBreaker(url, prefix="p", endpoint="e", failures=1, reset_s=30, retry_s=0.1)
        try:
            assert await limiter.wait("k") == 0.0 and limiter.outage.down  # counted here
            breaker.failure()
            assert breaker.state == "open" and breaker.outage.down  # this process's breaker
            with redis_server(port) as server:
                time.sleep(0.15)
                assert await limiter.wait("k") == 0.0 and not limiter.outage.down
                assert len(server.client.keys("p:rate:*")) == 1  # counted in Redis again
                assert breaker.state == "closed" and not breaker.outage.down  # the shared one: no failure seen
        finally:
            await limiter.aclose()
            breaker.close()

    with caplog.at_level(logging.INFO, logger="tactful.shared"):
        asyncio.run(run())
    messages = [r.getMessage() for r in caplog.records]
    assert len(outage_warnings(caplog, "unreachable")) == 2  # the limiter's and the breaker's, once each
    assert sum("reachable again" in m for m in messages) == 2


def test_without_redis_the_in_process_implementations_serve(tmp_path: Path) -> None:
    from api.container import build_breaker

    settings = make_settings(tmp_path, redis_url="", queue_url="")
    assert type(build_rate_limiter(settings)) is RateLimiter
    assert type(build_breaker(settings)) is CircuitBreaker
    shared = make_settings(tmp_path, redis_url=REDIS_URL)
    assert type(build_rate_limiter(shared)) is SharedRateLimiter
    assert type(build_breaker(shared)) is SharedBreaker
