"""The unit the knowledge team manages: a source document with its metadata."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

DocFormat = Literal["markdown", "text", "html"]
FORMATS: tuple[str, ...] = ("markdown", "text", "html")
MAX_DOCUMENT_CHARS = 2_000_000


@dataclass
class SourceDocument:
    id: str
    title: str
    text: str
    format: str = "markdown"
    language: str = ""
    kind: str = "policy"
    source: str = ""
    source_modified_at: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """Hash of everything that changes the indexed chunks."""
        h = hashlib.sha256()
        for part in (self.title, self.text, self.format, self.language, self.kind, self.source):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()
