"""What the engine needs from the outside world, as small protocols (the knowledge base, an LLM, the LLM's circuit
breaker)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from assist.models import Passage

# A filter: a string must equal the passage's field; a tuple of tags must meet its list field (``scope``: a
# document's scope tags) in at least one tag.
Filters = Mapping[str, str | tuple[str, ...]]
SCOPE = "scope"  # the filter that keeps retrieval to an installation's knowledge-base scope
BreakerState = Literal["closed", "open", "half_open"]


class Retriever(Protocol):
    """Finds knowledge-base passages for a query, in any supported language."""

    def search(
        self, query: str, *, k: int = 5, language: str | None = None, filters: Filters | None = None
    ) -> list[Passage]: ...


@runtime_checkable
class QueryEmbedder(Protocol):
    """Gives the language-neutral vector of a short text, as retrieval reads a query (the knowledge service does):
    the next steps compare a step with what the conversation already said, whatever their languages. An embedder
    may also offer ``embed_queries(texts) -> np.ndarray`` (one row each, in one batch): it is used when there."""

    def embed_query(self, text: str) -> np.ndarray: ...


@dataclass(frozen=True)
class ChatReply:
    """What a chat model answered, and what it cost."""

    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    attempts: int = 1
    finish_reason: str = ""


class LLM(Protocol):
    """A chat model that answers with one JSON object (``assist.llm`` holds the OpenAI-compatible one).

    Raises ``assist.errors.LLMUnavailable`` when it cannot answer within ``timeout_s`` (after its own retries).
    """

    model: str

    def complete_json(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        schema: Mapping[str, Any],
        name: str,
        timeout_s: float,
        max_tokens: int,
    ) -> ChatReply: ...


class Breaker(Protocol):
    """Stops calling an LLM endpoint that keeps failing: open after failures in a row, then half-open (a bounded
    number of trial calls) once its reset time passed, closed again by a success. ``assist.llm.CircuitBreaker``
    keeps it in this process; the API can share one between processes (``api/shared_limits.py``)."""

    @property
    def state(self) -> BreakerState: ...

    def allow(self) -> bool:
        """Whether a call may go out now (and, half-open, it is counted as a trial)."""
        ...

    def success(self) -> None: ...

    def failure(self) -> None: ...
