"""Errors of the knowledge base layer. Codes match ``assist.errors`` so the API maps them the same way."""

from __future__ import annotations


class KnowledgeError(Exception):
    code = "knowledge_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidDocument(KnowledgeError):
    """A document that cannot be read or indexed (empty, binary, malformed)."""

    code = "invalid_input"


class StoreUnavailable(KnowledgeError):
    """Chroma or the embedding model could not serve a request."""

    code = "knowledge_base_unavailable"


class CollectionGone(KnowledgeError):
    """A query named a collection Chroma no longer holds (a full re-index retired it, or a server lost its data):
    the caller answers from what it already has instead of re-creating it empty."""

    code = "knowledge_base_unavailable"
