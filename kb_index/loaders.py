"""Read files and folders into ``SourceDocument``s: Markdown (with front matter), text, HTML, PDF, CSV and JSON FAQs."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

from kb_index.documents import SCOPE_KEY, SourceDocument, scope_tags
from kb_index.errors import InvalidDocument

SUFFIXES = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".csv": "csv",
    ".json": "json",
}
MAX_FILE_BYTES = 60 * 1024 * 1024
_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_QUESTION_KEYS = ("question", "q", "domanda", "pregunta", "pytanie", "title")
_ANSWER_KEYS = ("answer", "a", "risposta", "respuesta", "odpowiedz", "odpowiedź", "text", "body")


def iter_paths(paths: list[Path]) -> Iterator[Path]:
    """Every supported file under ``paths`` (files as given, folders recursively, sorted)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            yield path
        else:
            raise InvalidDocument(f"{path}: no such file or folder", field="path")


def load_path(path: Path, *, root: Path | None = None) -> SourceDocument:
    """Read one file into a document; its id comes from front matter or the path relative to ``root``."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InvalidDocument(f"{path.name}: unsupported file type {path.suffix!r}", field="file")
    data = path.read_bytes()
    modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).isoformat()
    rel = path.relative_to(root) if root and path.is_relative_to(root) else Path(path.name)
    default_id = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(rel.with_suffix(""))).strip("-")
    doc = load_bytes(data, filename=path.name, default_id=default_id)
    doc.source = doc.source or str(path)
    doc.source_modified_at = modified
    return doc


def load_bytes(data: bytes, *, filename: str, default_id: str | None = None) -> SourceDocument:
    """Parse an uploaded or read file's bytes, by the file name's suffix."""
    suffix = Path(filename).suffix.lower()
    kind = SUFFIXES.get(suffix)
    if kind is None:
        raise InvalidDocument(f"{filename}: unsupported file type {suffix!r}", field="file")
    if not data.strip():
        raise InvalidDocument(f"{filename}: the file is empty", field="file")
    if len(data) > MAX_FILE_BYTES:
        raise InvalidDocument(f"{filename}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB", field="file")
    doc_id = default_id or re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(filename).stem)
    if kind == "pdf":
        return _pdf(data, doc_id=doc_id, filename=filename)
    text = _decode(data, filename)
    if kind == "csv":
        return _faq(_csv_rows(text, filename), doc_id=doc_id, filename=filename)
    if kind == "json":
        return _faq(_json_rows(text, filename), doc_id=doc_id, filename=filename)
    if kind == "html":
        return _document(html_to_markdown(text), doc_id=doc_id, filename=filename, fmt="markdown")
    return _document(text, doc_id=doc_id, filename=filename, fmt=kind)


def _decode(data: bytes, filename: str) -> str:
    if b"\x00" in data[:4096]:
        raise InvalidDocument(f"{filename}: looks like a binary file, not text", field="file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidDocument(f"{filename}: not valid UTF-8 text ({exc.reason})", field="file") from exc


def parse_front_matter(text: str) -> tuple[dict[str, str], str]:
    """``key: value`` lines between ``---`` fences at the top, and the rest of the text."""
    match = _FRONT.match(text)
    if not match:
        return {}, text
    meta = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            meta[key.strip().lower()] = value.strip().strip("'\"")
    return meta, text[match.end() :]


def _document(text: str, *, doc_id: str, filename: str, fmt: str) -> SourceDocument:
    meta, body = parse_front_matter(text)
    if not body.strip():
        raise InvalidDocument(f"{filename}: no text to index", field="file")
    title = meta.pop("title", "") or _first_heading(body) or Path(filename).stem.replace("-", " ")
    fields = {key: meta.pop(key, default) for key, default in (("id", doc_id), ("language", ""), ("kind", "policy"))}
    source = meta.pop("source", "")
    metadata: dict[str, Any] = dict(meta)
    if SCOPE_KEY in meta:  # "scope: brand-a, shared"
        try:
            metadata[SCOPE_KEY] = list(scope_tags(meta[SCOPE_KEY]))
        except ValueError as exc:
            raise InvalidDocument(f"{filename}: {exc}", field=SCOPE_KEY) from exc
    return SourceDocument(
        id=fields["id"], title=title, text=body.strip(), format=fmt, language=fields["language"],
        kind=fields["kind"], source=source, metadata=metadata,
    )  # fmt: skip


def _first_heading(text: str) -> str:
    match = re.search(r"^#{1,3}\s+(.+)$", text, re.M)
    return match.group(1).strip() if match else ""


def _pdf(data: bytes, *, doc_id: str, filename: str) -> SourceDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise InvalidDocument(f"{filename}: unreadable PDF ({exc})", field="file") from exc
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text.strip():
        raise InvalidDocument(f"{filename}: the PDF has no extractable text", field="file")
    return SourceDocument(
        id=doc_id, title=Path(filename).stem.replace("-", " "), text=text, format="text", kind="policy"
    )


def _pick(row: dict[str, str], keys: tuple[str, ...]) -> str:
    lowered = {k.strip().lower(): v for k, v in row.items() if k}
    return next((str(lowered[k]).strip() for k in keys if lowered.get(k)), "")


def _csv_rows(text: str, filename: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if not any(k in fields for k in _QUESTION_KEYS) or not any(k in fields for k in _ANSWER_KEYS):
        raise InvalidDocument(
            f"{filename}: a FAQ CSV needs 'question' and 'answer' columns (found: {', '.join(fields) or 'none'})",
            field="file",
        )
    return list(reader)


def _json_rows(text: str, filename: str) -> list[dict[str, str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidDocument(f"{filename}: invalid JSON ({exc.msg} at line {exc.lineno})", field="file") from exc
    rows = data.get("faqs") or data.get("items") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InvalidDocument(f"{filename}: a FAQ JSON is a list of {{question, answer}} objects", field="file")
    return rows


def _faq(rows: list[dict[str, str]], *, doc_id: str, filename: str) -> SourceDocument:
    parts = []
    for row in rows:
        question, answer = _pick(row, _QUESTION_KEYS), _pick(row, _ANSWER_KEYS)
        if question and answer:
            parts.append(f"## {question}\n\n{answer}")
    if not parts:
        raise InvalidDocument(f"{filename}: no rows with both a question and an answer", field="file")
    title = Path(filename).stem.replace("-", " ").replace("_", " ")
    return SourceDocument(
        id=doc_id, title=title, text=f"# {title}\n\n" + "\n\n".join(parts), format="markdown", kind="faq"
    )


class _HtmlToMarkdown(HTMLParser):
    _BLOCK: ClassVar[set[str]] = {"p", "div", "section", "article", "br", "tr", "table", "ul", "ol"}
    _SKIP: ClassVar[set[str]] = {"script", "style", "head", "nav", "footer", "noscript"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0
        self._lists: list[list[int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in ("h1", "h2", "h3", "h4"):
            self.out.append("\n\n" + "#" * min(int(tag[1]), 3) + " ")
        elif tag in ("ol", "ul"):
            self._lists.append([0 if tag == "ol" else -1])
        elif tag == "li":
            counter = self._lists[-1] if self._lists else [-1]
            if counter[0] >= 0:
                counter[0] += 1
                self.out.append(f"\n{counter[0]}. ")
            else:
                self.out.append("\n- ")
        elif tag in self._BLOCK:
            self.out.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in ("ol", "ul") and self._lists:
            self._lists.pop()
            self.out.append("\n\n")
        elif tag in ("h1", "h2", "h3", "h4", "p"):
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_markdown(html: str) -> str:
    """Headings, lists and paragraphs of (possibly broken) HTML as Markdown; scripts and styles dropped."""
    parser = _HtmlToMarkdown()
    parser.feed(html)
    parser.close()
    text = "".join(parser.out)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
