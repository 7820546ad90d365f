"""The unit the knowledge team manages: a source document with its metadata."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

DocFormat = Literal["markdown", "text", "html"]
FORMATS: tuple[str, ...] = ("markdown", "text", "html")
MAX_DOCUMENT_CHARS = 2_000_000
SCOPE_KEY = "scope"  # the metadata (and chunk metadata) key of a document's scope tags
TOPIC_KEY = "topic"  # a topic declared in front matter, metadata or the API
DETECTED_TOPIC = "detected_topic"  # the topic of a version found by content (kb_index.versions)
SCOPE_TAG = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_SCOPE_TAGS = 20


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
        or metadata, else the topic of the version it was found to be (``detected_topic``), else its id without a
        language suffix ("refunds-en" and "refunds-it" are one topic)."""
        return topic_of(self.metadata, self.id, self.language)

    @property
    def declares_topic(self) -> bool:
        return bool(str(self.metadata.get(TOPIC_KEY, "") or "").strip())

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scope tags of its front matter or metadata (``scope: brand-a, shared``): the installations whose scope
        names one of them see it; none: only installations with an empty scope (everything) do."""
        return scope_tags(self.metadata.get(SCOPE_KEY))

    @property
    def content_hash(self) -> str:
        """Hash of everything that changes the indexed chunks (the scope only when there is one, so that documents
        indexed before scopes existed keep their hash)."""
        h = hashlib.sha256()
        parts = (self.title, self.text, self.format, self.language, self.kind, self.source, self.topic)
        for part in parts + ((",".join(self.scopes),) if self.scopes else ()):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()


def scope_tags(value: object) -> tuple[str, ...]:
    """Scope tags from a list or a comma-separated string, lower-cased, deduplicated and sorted; ``ValueError`` for a
    tag that is not ``[a-z0-9][a-z0-9_.-]*`` (64 characters at most) or for more than ``MAX_SCOPE_TAGS``."""
    if value is None or value == "":
        return ()
    items: Iterable[object] = (
        value.split(",") if isinstance(value, str) else value if isinstance(value, list | tuple) else [value]
    )
    tags = sorted({str(item).strip().lower() for item in items} - {""})
    bad = [t for t in tags if not SCOPE_TAG.match(t)]
    if bad:
        raise ValueError(f"scope tags are lower-case letters, digits, '-', '_' or '.' (64 at most): not {bad}")
    if len(tags) > MAX_SCOPE_TAGS:
        raise ValueError(f"at most {MAX_SCOPE_TAGS} scope tags, not {len(tags)}")
    return tuple(tags)


def topic_of(metadata: dict[str, Any] | None, document_id: str, language: str) -> str:
    """A document's topic from its metadata (declared, else detected) or, with neither, its id (``topic_of_id``)."""
    meta = metadata or {}
    for key in (TOPIC_KEY, DETECTED_TOPIC):
        value = str(meta.get(key, "") or "").strip()
        if value:
            return value
    return topic_of_id(document_id, language)


def topic_of_id(document_id: str, language: str) -> str:
    """``document_id`` without a trailing ``-<language>``, ``_<language>`` or ``.<language>`` (its topic)."""
    lang = language.strip().lower()
    for sep in ("-", "_", "."):
        if lang and document_id.lower().endswith(sep + lang):
            return document_id[: -len(lang) - 1]
    return document_id
