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
    def topic(self) -> str:
        """What the document is about, shared by its versions in other languages: the ``topic`` of its front matter
        or metadata, else its id without a language suffix ("refunds-en" and "refunds-it" are one topic)."""
        declared = str(self.metadata.get("topic", "") or "").strip()
        return declared or topic_of_id(self.id, self.language)

    @property
    def content_hash(self) -> str:
        """Hash of everything that changes the indexed chunks."""
        h = hashlib.sha256()
        for part in (self.title, self.text, self.format, self.language, self.kind, self.source, self.topic):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()


def topic_of_id(document_id: str, language: str) -> str:
    """``document_id`` without a trailing ``-<language>``, ``_<language>`` or ``.<language>`` (its topic)."""
    lang = language.strip().lower()
    for sep in ("-", "_", "."):
        if lang and document_id.lower().endswith(sep + lang):
            return document_id[: -len(lang) - 1]
    return document_id
