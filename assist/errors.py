"""Domain errors: each carries a code (mapped to an HTTP status in ``api/errors.py``) and the field at fault."""

from __future__ import annotations


class TactfulError(Exception):
    """Base of every error Tactful raises on purpose."""

    code = "tactful_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(TactfulError):
    code = "invalid_input"


class NotFound(TactfulError):
    code = "not_found"


class Conflict(TactfulError):
    code = "conflict"


class KnowledgeBaseUnavailable(TactfulError):
    code = "knowledge_base_unavailable"


class HelpdeskUnavailable(TactfulError):
    """The helpdesk's API did not take a write (a note): down, refused, or an error."""

    code = "helpdesk_unavailable"


class LLMUnavailable(TactfulError):
    code = "llm_unavailable"
