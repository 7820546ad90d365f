"""Retrieval on documents as written (issue 14): each knowledge base in several layouts, three methods side by side.

Every layout is a set of files parsed by ``kb_index.loaders.load_bytes`` (the path of ``POST /v1/documents``), then:

- **Tactful**: ``Indexer.sync`` into an embedded Chroma collection, ``HybridRetriever.search`` with its default
  weights (``evals.retrieval.EvalKnowledgeBase``, as ``tactful eval retrieval`` does);
- **BM25 only**: the same ``LexicalIndex`` over the same chunks;
- **textbook**: LangChain's ``RecursiveCharacterTextSplitter(1000, 100)`` over each loaded document's text, a
  ``langchain_chroma.Chroma`` collection with the same e5 model (plain, without Tactful's language-neutral
  projection), dense ``similarity_search`` only.

Hits are ranked as gold labels at the rank of their best evidence. A hit is mapped to a label by its document when
the file holds one label, else by the section it came from: Tactful and BM25 by the hit's section path (or a known
heading in its text), the textbook pipeline by the section holding most of the chunk's characters (``start_index``).
Nothing here depends on how ``kb_index`` cuts documents into chunks. Results and method: ``docs/evaluation.md``.

    .venv/bin/tactful eval layouts --data ../shared/eval/data [--layout banking77-list10] [--limit 200]
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

from langchain_chroma import Chroma
from langchain_text_splitters import RecursiveCharacterTextSplitter

from evals._layout_data import (
    Layout,
    LoadedLayout,
    csv_layout,
    demo_layout,
    every_nth,
    guideline_layout,
    list_layout,
    markdown_layout,
    xsid_rows,
)
from evals._ranking import documents_in_order, mean_reciprocal_rank, recall_at, spread_sample
from evals._retrieval_data import Query, abcd_procedure_queries, demo_queries, load_banking77, split_for_development
from evals.retrieval import COLLECTION, DEPTH, EvalKnowledgeBase
from kb_index.chunking import is_unit
from kb_index.embeddings import SPIN_COUNT, E5Embeddings, embed_query_array
from kb_index.lexical import LexicalIndex
from kb_index.neutral import LanguageNeutralEmbeddings
from kb_index.store import ChromaStore

METHODS = ("Tactful", "BM25 only", "textbook")
TEST_EVERY = 4  # held-out queries: every 4th row of Banking77's test.csv (770 of 3,080) keeps a full run short
TEXTBOOK_CHUNK = 1000
TEXTBOOK_OVERLAP = 100
BANKING77_LAYOUTS = {
    "banking77-list10": "list per intent, 10 questions (.txt)",
    "banking77-list-all": "list per intent, all questions (.txt)",
    "banking77-csv": "FAQ CSV, 10 rows per intent",
    "banking77-markdown": "one Markdown file, a ## section per intent",
}
XSID_LAYOUTS = ("xsid-en-kb", "xsid-it-kb", "xsid-de-kb")
LAYOUTS = (*BANKING77_LAYOUTS, "abcd-guidelines", "demo-kb", *XSID_LAYOUTS)


@dataclass(frozen=True)
class Build:
    """One knowledge base to index, and the query sets scored against it (split name -> queries)."""

    layout: str
    layout_fn: Callable[[], Layout]
    splits: dict[str, list[Query]]


@dataclass(frozen=True)
class Cost:
    chunks: int
    embedded: int
    seconds: float
    rss_mb: float


@dataclass(frozen=True)
class Row:
    layout: str
    split: str
    method: str
    gold: list[str]
    ranked: list[list[str]]
    cost: Cost

    def cells(self) -> list[str]:
        c = self.cost
        return [
            self.layout, self.split, self.method, str(len(self.gold)),
            f"{recall_at(self.ranked, self.gold, 1):.3f}", f"{recall_at(self.ranked, self.gold, 3):.3f}",
            f"{mean_reciprocal_rank(self.ranked, self.gold):.3f}",
            str(c.chunks), str(c.embedded), f"{c.seconds:.1f}", f"{c.rss_mb:+.0f}",
        ]  # fmt: skip


def resident_mb() -> float:
    """This process's resident memory now (Linux ``/proc``; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _labels(found: Sequence[str]) -> list[str]:
    return [label for label in documents_in_order(found) if label]


class TactfulSide:
    """Tactful's index of a layout (the real indexing pipeline) and its two rankings: hybrid and BM25 alone."""

    def __init__(self, root: Path, loaded: LoadedLayout, embeddings: LanguageNeutralEmbeddings) -> None:
        self.loaded = loaded
        self.kb = EvalKnowledgeBase(root, embeddings=embeddings)
        before, started = resident_mb(), time.perf_counter()
        counts = self.kb.sync(root.name, loaded.documents)
        seconds = time.perf_counter() - started
        stored = self.kb.store.all_chunks(COLLECTION)
        self.cost = Cost(len(stored), counts.added, seconds, resident_mb() - before)
        chunks = [c for c in stored if not is_unit(c.metadata)]  # BM25 reads sections, as the service's half does
        self.chunk_labels = [
            loaded.label_of_hit(str(c.metadata.get("document_id", "")), str(c.metadata.get("section", "")), c.text)
            for c in chunks
        ]
        started = time.perf_counter()
        self.lexical = LexicalIndex([c.text for c in chunks], [str(c.metadata.get("language", "")) for c in chunks])
        self.bm25_cost = Cost(len(chunks), 0, time.perf_counter() - started, 0.0)

    def hybrid(self, query: Query) -> list[str]:
        vector = embed_query_array(self.kb.store.embeddings, query.text)
        hits = self.kb.retriever.search(query.text, k=DEPTH, language=query.language, query_vector=vector)
        return _labels([self.loaded.label_of_hit(h.document_id, h.section, h.text) for h in hits])

    def bm25(self, query: Query) -> list[str]:
        mask = self.kb.languages == query.language
        found = self.lexical.search(query.text, language=query.language, k=DEPTH, mask=mask)
        return _labels([self.chunk_labels[h.index] for h in found])


class TextbookSide:
    """What a user builds in an afternoon: recursive character splitter, Chroma, the e5 model, dense only."""

    def __init__(self, root: Path, loaded: LoadedLayout, embeddings: E5Embeddings) -> None:
        self.loaded = loaded
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=TEXTBOOK_CHUNK, chunk_overlap=TEXTBOOK_OVERLAP, add_start_index=True
        )
        before, started = resident_mb(), time.perf_counter()
        chunks = splitter.create_documents(
            [d.text for d in loaded.documents], metadatas=[{"document_id": d.id} for d in loaded.documents]
        )
        client = ChromaStore.open(data_dir=root, url="", embeddings=embeddings).client
        self.store = Chroma(client=client, collection_name="textbook", embedding_function=embeddings)
        self.store.add_documents(chunks)
        self.cost = Cost(len(chunks), len(chunks), time.perf_counter() - started, resident_mb() - before)

    def dense(self, query: Query) -> list[str]:
        found = self.store.similarity_search(query.text, k=DEPTH)
        return _labels(
            [
                self.loaded.label_of_span(
                    str(d.metadata["document_id"]), int(d.metadata["start_index"]), len(d.page_content)
                )
                for d in found
            ]
        )


def score_build(build: Build, work: Path, e5: E5Embeddings, neutral: LanguageNeutralEmbeddings) -> list[Row]:
    """Index one knowledge base three ways (fresh folders under ``work``) and score every query set against each."""
    loaded = LoadedLayout(build.layout_fn())
    tactful = TactfulSide(work / "tactful", loaded, neutral)
    textbook = TextbookSide(work / "textbook", loaded, e5)
    methods = {
        "Tactful": (tactful.hybrid, tactful.cost),
        "BM25 only": (tactful.bm25, tactful.bm25_cost),
        "textbook": (textbook.dense, textbook.cost),
    }
    rows = []
    for split, queries in build.splits.items():
        gold = [q.gold for q in queries]
        for method in METHODS:
            rank, cost = methods[method]
            rows.append(Row(build.layout, split, method, gold, [rank(q) for q in queries], cost))
    return rows


def banking77_builds(folder: Path, *, limit: int = 0) -> list[Build]:
    """Each Banking77 layout twice: development (KB from 80% of train.csv, queries the other 20%) and held out
    (KB from all of train.csv, queries every ``TEST_EVERY``-th row of test.csv)."""
    train = load_banking77(folder / "train.csv")
    kb_rows, dev = split_for_development(train)
    test = every_nth(load_banking77(folder / "test.csv"), TEST_EVERY)
    makers: dict[str, Callable[[list[Query]], Layout]] = {
        "banking77-list10": list_layout,
        "banking77-list-all": lambda rows: list_layout(rows, examples=None),
        "banking77-csv": csv_layout,
        "banking77-markdown": markdown_layout,
    }
    builds = []
    for layout, make in makers.items():
        builds.append(Build(layout, _bind(make, kb_rows), {"dev: 20% of train": spread_sample(dev, limit)}))
        builds.append(Build(layout, _bind(make, train), {"held out: test.csv 1/4": spread_sample(test, limit)}))
    return builds


def _bind(make: Callable[[list[Query]], Layout], rows: list[Query]) -> Callable[[], Layout]:
    return lambda: make(rows)


def article_builds(folder: Path, *, limit: int = 0) -> list[Build]:
    """Prose articles with headings: the ABCD guidelines and the bundled demo knowledge base, as Markdown files."""
    guidelines = json.loads((folder / "abcd" / "guidelines.json").read_text(encoding="utf-8"))
    ontology = json.loads((folder / "abcd" / "ontology.json").read_text(encoding="utf-8"))
    procedures = spread_sample(abcd_procedure_queries(guidelines, ontology), limit)
    demo = {
        "dev: our questions (chosen on)": spread_sample(demo_queries("development"), limit),
        "unseen: our questions": spread_sample(demo_queries("unseen"), limit),
    }
    return [
        Build("abcd-guidelines", lambda: guideline_layout(guidelines, ontology),
              {"per-subflow (not independent)": procedures}),
        Build("demo-kb", demo_layout, demo),
    ]  # fmt: skip


def xsid_builds(*, limit: int = 0) -> list[Build]:
    """xSID (``evals/data/xsid``): a list document per intent in English, queried in English, Italian and German
    (cross-lingual), and an Italian and a German knowledge base, each queried in its own language."""
    builds = []
    for kb_language in ("en", "it", "de"):
        query_languages = ("en", "it", "de") if kb_language == "en" else (kb_language,)
        splits = {
            f"{name} {language}": spread_sample(xsid_rows(split, language), limit)
            for name, split in (("dev:", "dev"), ("held out:", "held_out"))
            for language in query_languages
        }
        kb = xsid_rows("kb", kb_language)
        builds.append(Build(f"xsid-{kb_language}-kb", _bind(partial(list_layout, language=kb_language), kb), splits))
    return builds


def all_builds(data: Path, *, limit: int = 0) -> list[Build]:
    """Every knowledge base of the evaluation, in the order they are run."""
    return (
        banking77_builds(data / "banking77", limit=limit) + article_builds(data, limit=limit) + xsid_builds(limit=limit)
    )


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as one Markdown table."""
    head = ["layout", "split", "method", "queries", "R@1", "R@3", "MRR", "chunks", "embedded", "index s", "RSS MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row.cells()) + " |" for row in rows])


def evaluate(data: Path, *, limit: int = 0, layout: str = "") -> str:
    """Score every layout (or only ``layout``) with the three methods; the results as Markdown."""
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)  # see kb_index/embeddings.py
    builds = [b for b in all_builds(data, limit=limit) if not layout or b.layout == layout]
    if not builds:
        return f"no such layout: {layout!r} (one of {', '.join(LAYOUTS)})"
    started = time.perf_counter()
    # One model, one query cache: the same questions are asked of every layout and of both pipelines.
    e5 = E5Embeddings(query_cache=50_000)
    neutral = LanguageNeutralEmbeddings(e5)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tactful-layouts-") as tmp:
        for number, build in enumerate(builds):
            rows += score_build(build, Path(tmp) / f"{number:02d}-{build.layout}", e5, neutral)
            print(f"[{time.perf_counter() - started:.0f} s] {build.layout}: {', '.join(build.splits)}", flush=True)
    notes = [
        f"chunks asked per query: {DEPTH}; labels ranked at their best chunk; textbook: "
        f"RecursiveCharacterTextSplitter({TEXTBOOK_CHUNK}, {TEXTBOOK_OVERLAP}), Chroma, plain e5, dense only",
        "index s: loading excluded; Tactful = Indexer.sync + HybridRetriever.load + the eval's BM25 copy; "
        "BM25 = building its LexicalIndex; RSS MB: resident memory after minus before the build (rough)",
        f"{date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
        f"limit {limit or 'none'}, layout {layout or 'all'}, {time.perf_counter() - started:.0f} s in all",
    ]
    return markdown_table(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes)
