"""Split documents into chunks with LangChain's Markdown-header-aware splitters.

Each chunk keeps its document id, title, section path, language and kind. A chunk that does not start
with its own heading gets a one-line context header (``Title > Section``) so it reads, embeds and
matches lexically on its own.
"""

from __future__ import annotations

from langchain_core.documents import Document
from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from kb_index.documents import SourceDocument
from kb_index.loaders import html_to_markdown

CHUNK_CHARS = 900
CHUNK_OVERLAP = 120
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


def chunk_document(doc: SourceDocument) -> list[Document]:
    """The document's chunks as LangChain ``Document``s, in order, with flat (Chroma-safe) metadata.

    Only what the content determines goes into metadata: LangChain's indexing API hashes it, so a volatile
    field (an indexing time, a version) would re-embed unchanged chunks on every run.
    """
    chunks: list[Document] = []
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
                "position": len(chunks),
            }
            chunks.append(Document(page_content=f"{header}\n{piece.strip()}", metadata=meta))
    return chunks


def chunk_body(text: str) -> str:
    """A chunk's text without its context header line."""
    return text.split("\n", 1)[1] if "\n" in text else text
