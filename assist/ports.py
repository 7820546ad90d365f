"""What the engine needs from the outside world, as small protocols (the knowledge base, an LLM)."""

from __future__ import annotations

from typing import Protocol

from assist.models import Passage


class Retriever(Protocol):
    """Finds knowledge-base passages for a query, in any supported language."""

    def search(
        self, query: str, *, k: int = 5, language: str | None = None, filters: dict[str, str] | None = None
    ) -> list[Passage]: ...
