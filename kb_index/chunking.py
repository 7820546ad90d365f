"""Split documents into chunks with LangChain's Markdown-header-aware splitters, and each chunk into its units.

Each chunk keeps its document id, title, section path, language and kind. A chunk that does not start
with its own heading gets a one-line context header (``Title > Section``) so it reads, embeds and
matches lexically on its own.

Beside each section chunk, the small units it holds (a question of a list, a bullet, a step, a short line) are
indexed as chunks of their own, pointing to their section (``parent``): one question matches a customer's
question better than a section of ten does. Search finds sections by their best unit and answers with the section,
so a cited unit is read with its surroundings (multi-vector retrieval; ``docs/evaluation.md``).
"""

from __future__ import annotations

import re

from langchain_core.documents import Document
from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from kb_index.documents import SourceDocument
from kb_index.loaders import html_to_markdown

CHUNK_CHARS = 900
CHUNK_OVERLAP = 120
# A unit is a line of a section that holds several: list markers dropped; headings, intros ending with ":" and
# long paragraphs (the section covers them) are not units.
MAX_UNIT_CHARS = 400
MIN_UNIT_WORDS = 2
PARENT = "parent"  # a unit's metadata: the position of the section chunk it belongs to
_LIST_MARK = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s+")
_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3")]
_md = MarkdownHeaderTextSplitter(headers_to_split_on=_HEADERS, strip_headers=True)
_chars = RecursiveCharacterTextSplitter(
    chunk_size=CHUNK_CHARS, chunk_overlap=CHUNK_OVERLAP, separators=["\n\n", "\n", ". ", " ", ""]
)


def _sections(doc: SourceDocument) -> list[Document]:
    if doc.format == "html":
        return _md.split_text(html_to_markdown(doc.text))
    if doc.format == "markdown":
        return _md.split_text(doc.text)
    return [Document(page_content=doc.text, metadata={})]


def _section_path(meta: dict[str, str], title: str) -> str:
    parts = [meta[k] for k in ("h1", "h2", "h3") if meta.get(k)]
    if parts and parts[0].strip().lower() == title.strip().lower():
        parts = parts[1:]
    return " > ".join(parts)


def chunk_document(doc: SourceDocument, *, units: bool = True) -> list[Document]:
    """The document's chunks as LangChain ``Document``s, in order, with flat (Chroma-safe) metadata.

    Only what the content determines goes into metadata: LangChain's indexing API hashes it, so a volatile
    field (an indexing time, a version) would re-embed unchanged chunks on every run. ``units=False``: sections only
    (``TACTFUL_INDEX_UNITS``; units multiply the vectors of a list-heavy knowledge base by 3 to 12).
    """
    chunks: list[Document] = []
    sections = 0
    for section in _sections(doc):
        path = _section_path(section.metadata, doc.title)
        for piece in _chars.split_text(section.page_content):
            if not piece.strip():
                continue
            header = f"{doc.title} > {path}" if path else doc.title
            meta = {
                "document_id": doc.id,
                "title": doc.title,
                "section": path,
                "language": doc.language,
                "kind": doc.kind,
                "topic": doc.topic,
                "source": doc.source,
                "position": sections,
            }
            chunks.append(Document(page_content=f"{header}\n{piece.strip()}", metadata=meta))
            sections += 1
            for unit in units_of(piece) if units else ():
                chunks.append(Document(page_content=f"{header}\n{unit}", metadata={**meta, PARENT: meta["position"]}))
    return chunks


def units_of(section: str) -> list[str]:
    """The small units of a section's text: its lines, when it has two or more that can stand alone."""
    found = []
    for line in section.splitlines():
        text = _LIST_MARK.sub("", line).strip()
        if not text or text.startswith("#") or text.endswith(":") or len(text) > MAX_UNIT_CHARS:
            continue
        if len(text.split()) >= MIN_UNIT_WORDS:
            found.append(text)
    return found if len(found) >= 2 else []


def is_unit(metadata: dict[str, object]) -> bool:
    """Whether a stored chunk is a unit (searched, but answered with its section)."""
    return PARENT in metadata


def chunk_body(text: str) -> str:
    """A chunk's text without its context header line."""
    return text.split("\n", 1)[1] if "\n" in text else text
