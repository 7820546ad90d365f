"""Knowledge bases as files, in several layouts built from the same source data, and how a hit maps to its gold label.

Every layout is a list of files (name and bytes) that ``kb_index.loaders.load_bytes`` parses as ``POST /v1/documents``
does. A file either holds one gold label (a list document per intent, an article) or many (a FAQ CSV, one large
Markdown file): then each label is a section, and a hit or chunk is mapped to the label of the section it came from.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assist.language import detect_language
from evals._retrieval_data import DEMO_KB, Query, demo_topic, guideline_documents, humanise
from kb_index.documents import SourceDocument
from kb_index.loaders import iter_paths, load_bytes

LIST_EXAMPLES = 10  # example questions per intent in the short list documents and in the CSV and Markdown layouts
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_SPACES = re.compile(r"\s+")
LIST_HEADERS = {
    "en": "Customer questions about {}:",
    "it": "Domande dei clienti su {}:",
    "es": "Preguntas de clientes sobre {}:",
    "pl": "Pytania klientów o {}:",
    "de": "Kundenfragen zu {}:",
}
XSID = Path(__file__).parent / "data" / "xsid" / "xsid.jsonl"
XSID_LANGUAGES = ("en", "it", "de")


@dataclass(frozen=True)
class SourceFile:
    """One file as a user would upload it; ``label`` is its gold label when the whole file is about one."""

    name: str
    data: bytes
    label: str = ""


@dataclass(frozen=True)
class Layout:
    """A knowledge base as files; ``headings`` maps a section heading to its label in many-label files."""

    files: list[SourceFile]
    headings: dict[str, str] = field(default_factory=dict)


def heading_key(text: str) -> str:
    """A heading compared loosely: case-folded, spaces collapsed, Markdown markers and trailing colons dropped."""
    return _SPACES.sub(" ", text.strip().lstrip("#").strip().rstrip(":")).casefold()


def section_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, heading)`` of every Markdown section of ``text``: a heading line up to the next heading."""
    found = list(_HEADING.finditer(text))
    ends = [m.start() for m in found[1:]] + [len(text)]
    return [(m.start(), end, m.group(1)) for m, end in zip(found, ends, strict=True)]


def uploaded(file: SourceFile) -> SourceDocument:
    """``file`` as ``POST /v1/documents`` receives it: parsed by ``load_bytes``, then given a language when it has none
    (``api.services.knowledge.KnowledgeService.submit_documents`` detects it from the title and the first 2,000
    characters the same way; BM25 only searches chunks in the query's language)."""
    doc = load_bytes(file.data, filename=file.name)
    if not doc.language:
        doc.language = detect_language(f"{doc.title}\n{doc.text[:2000]}")
    return doc


class LoadedLayout:
    """A layout's files through ``load_bytes``, and the gold label of a hit (by document, else by its section)."""

    def __init__(self, layout: Layout) -> None:
        self.documents: list[SourceDocument] = [uploaded(f) for f in layout.files]
        self.by_document = {d.id: f.label for d, f in zip(self.documents, layout.files, strict=True) if f.label}
        self.by_heading = {heading_key(h): label for h, label in layout.headings.items()}
        self.spans = {d.id: section_spans(d.text) for d in self.documents if d.id not in self.by_document}

    def label_of_hit(self, document_id: str, section: str, text: str) -> str:
        """The label of a retrieved unit: its document's, else its section path's (deepest first), else the first
        known heading in its text (a ``Title > Section`` context line, a heading, a bullet); "" when none is known."""
        if document_id in self.by_document:
            return self.by_document[document_id]
        for path in (section, *text.splitlines()):
            for part in reversed(path.split(" > ")):
                label = self.by_heading.get(heading_key(part.lstrip("-*> ")))
                if label:
                    return label
        return ""

    def label_of_span(self, document_id: str, start: int, length: int) -> str:
        """The label of characters ``start .. start + length`` of a loaded document's text: its document's, else
        that of the labelled section holding most of them (how the textbook pipeline's chunks are mapped)."""
        if document_id in self.by_document:
            return self.by_document[document_id]
        best, label = 0, ""
        for begin, end, heading in self.spans.get(document_id, []):
            overlap = min(end, start + length) - max(begin, start)
            known = self.by_heading.get(heading_key(heading), "")
            if known and overlap > best:
                best, label = overlap, known
        return label


def by_intent(rows: Iterable[Query]) -> dict[str, list[str]]:
    """Each label's texts in their order, labels sorted."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        grouped[row.gold].append(row.text)
    return dict(sorted(grouped.items()))


def _readable(intent: str) -> str:
    """``card_arrival`` -> ``card arrival``; xSID's ``alarm/set_alarm`` -> ``set alarm``, ``PlayMusic`` -> ``play music``."""
    last = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", intent.rsplit("/", 1)[-1])
    return humanise(last).lower()


def _file_stem(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-") or "intent"


def list_layout(rows: Iterable[Query], *, examples: int | None = LIST_EXAMPLES, language: str = "en") -> Layout:
    """A plain-text file per intent: "Customer questions about <intent>:" then its example questions one per line
    (the first ``examples`` of them, all when None)."""
    files = []
    for intent, questions in by_intent(rows).items():
        header = LIST_HEADERS[language].format(_readable(intent))
        text = "\n".join([header, *questions[:examples]]) + "\n"
        files.append(SourceFile(f"{_file_stem(intent)}.txt", text.encode("utf-8"), label=intent))
    return Layout(files)


def csv_layout(rows: Iterable[Query], *, examples: int = LIST_EXAMPLES, name: str = "banking-faq.csv") -> Layout:
    """One FAQ CSV (``question,answer``): a row per example question (the first ``examples`` of each intent), the
    answer naming the help article it leads to. A question already asked under another intent is left out."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["question", "answer"])
    headings: dict[str, str] = {}
    seen: set[str] = set()
    for intent, questions in by_intent(rows).items():
        for question in questions[:examples]:
            key = heading_key(question)
            if key in seen or not key:
                continue
            seen.add(key)
            headings[question] = intent
            writer.writerow([question, f"See our help article “{humanise(intent)}”."])
    return Layout([SourceFile(name, out.getvalue().encode("utf-8"))], headings)


def markdown_layout(rows: Iterable[Query], *, examples: int = LIST_EXAMPLES, title: str = "Banking FAQ") -> Layout:
    """One Markdown file: every intent a ``##`` section listing its first ``examples`` questions as bullets."""
    parts = [f"# {title}\n"]
    headings: dict[str, str] = {}
    for intent, questions in by_intent(rows).items():
        heading = humanise(intent)
        headings[heading] = intent
        parts.append(f"## {heading}\n\n" + "\n".join(f"- {q}" for q in questions[:examples]) + "\n")
    return Layout([SourceFile(f"{_file_stem(title.lower())}.md", "\n".join(parts).encode("utf-8"))], headings)


def markdown_file(doc: SourceDocument) -> SourceFile:
    """An article as the Markdown file a user would upload: its id, title, language and kind in front matter."""
    front = "\n".join(f"{k}: {v}" for k, v in (("id", doc.id), ("title", doc.title),
                                               ("language", doc.language), ("kind", doc.kind)) if v)  # fmt: skip
    return SourceFile(f"{_file_stem(doc.id)}.md", f"---\n{front}\n---\n\n{doc.text}".encode(), label=doc.id)


def guideline_layout(guidelines: dict[str, Any], ontology: dict[str, Any]) -> Layout:
    """The ABCD guidelines as one Markdown article per subflow (labelled by the subflow)."""
    return Layout([markdown_file(doc) for doc in guideline_documents(guidelines, ontology)])


def demo_layout() -> Layout:
    """The bundled demo knowledge base's files as they are, each labelled by its topic."""
    files = []
    for path in iter_paths([DEMO_KB]):
        data = path.read_bytes()
        topic = demo_topic(load_bytes(data, filename=path.name).id)
        files.append(SourceFile(path.name, data, label=topic))
    return Layout(files)


def every_nth(items: Sequence[Query], n: int) -> list[Query]:
    """Every ``n``-th item, starting with the first (a deterministic subsample)."""
    return list(items[::n])


def xsid_rows(split: str, language: str, path: Path = XSID) -> list[Query]:
    """xSID's sentences of ``split`` (``kb``, ``dev`` or ``held_out``; ``evals/data/xsid/SOURCE.md``) in ``language``."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Query(r[language], r["intent"], language) for r in rows if r["split"] == split]
