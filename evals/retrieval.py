"""Retrieval evaluation on Banking77, the ABCD guidelines and our own multilingual questions (a script, not a test).

Every knowledge base goes through the real pipeline: ``SourceDocument`` -> ``Indexer.sync`` into an embedded
Chroma collection in a temporary folder -> ``HybridRetriever.search`` with its default ``FusionWeights``.
Beside it, on the same collection and the same query vectors: BM25 alone (the same ``LexicalIndex``) and
dense alone (a Chroma query with the same embeddings, no hub correction, no lexical half). Chunk hits become
documents at the rank of their best chunk, as the assist engine reads them. Banking77's test split is held
out: nothing was tuned on it. Results and method: ``docs/evaluation.md``.

    .venv/bin/tactful eval retrieval --data ../shared/eval/data
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine

from evals._ranking import documents_in_order, mean_reciprocal_rank, percentile, recall_at, spread_sample
from evals._retrieval_data import (
    Query,
    abcd_opening_queries,
    abcd_procedure_queries,
    crosslingual_queries,
    demo_documents,
    demo_queries,
    demo_topic,
    guideline_documents,
    intent_documents,
    load_banking77,
    split_for_development,
    subflow_ids,
)
from kb_index.chunking import is_unit
from kb_index.documents import SourceDocument
from kb_index.embeddings import SPIN_COUNT, E5Embeddings, embed_query_array
from kb_index.indexing import ChunkCounts, Indexer
from kb_index.lexical import LexicalIndex
from kb_index.neutral import LanguageNeutralEmbeddings
from kb_index.retrieval import FusionWeights, HybridRetriever
from kb_index.store import ChromaStore

COLLECTION = "tactful_chunks_eval"
DEPTH = 30  # chunks asked of every method per query
METHODS = ("ours (hybrid)", "BM25 only", "dense only")


@dataclass
class Ranking:
    """One method's document rankings for a list of queries, and the time each query took."""

    gold: list[str] = field(default_factory=list)
    documents: list[list[str]] = field(default_factory=list)
    millis: list[float] = field(default_factory=list)

    def add(self, gold: str, document_ids: Sequence[str], millis: float) -> None:
        self.gold.append(gold)
        self.documents.append(documents_in_order(document_ids))
        self.millis.append(millis)


@dataclass(frozen=True)
class Row:
    dataset: str
    split: str
    method: str
    ranking: Ranking

    def cells(self) -> list[str]:
        r = self.ranking
        return [
            self.dataset,
            self.split,
            str(len(r.gold)),
            self.method,
            f"{recall_at(r.documents, r.gold, 1):.3f}",
            f"{recall_at(r.documents, r.gold, 3):.3f}",
            f"{mean_reciprocal_rank(r.documents, r.gold):.3f}",
            f"{percentile(r.millis, 0.5):.1f}",
            f"{percentile(r.millis, 0.95):.1f}",
        ]


class EvalKnowledgeBase:
    """A Chroma collection under ``root`` filled by the real indexing pipeline, searchable three ways."""

    def __init__(
        self, root: Path, *, gold_of: Callable[[str], str] = str, embeddings: LanguageNeutralEmbeddings | None = None
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.gold_of = gold_of
        # No query cache by default: every query's latency includes embedding it, as a new question's would.
        embeddings = embeddings or LanguageNeutralEmbeddings(E5Embeddings(query_cache=0))
        self.store = ChromaStore.open(data_dir=root, url="", embeddings=embeddings)
        self.indexer = Indexer(self.store, create_engine(f"sqlite:///{root / 'records.db'}"))
        self.retriever = HybridRetriever(self.store)
        self.lexical = LexicalIndex([], [])
        self.document_of: list[str] = []
        self.languages = np.array([], dtype=str)
        self.notes: list[str] = []

    def sync(self, name: str, documents: Sequence[SourceDocument]) -> ChunkCounts:
        """Make the collection hold exactly ``documents`` (unchanged chunks are not embedded again), then load it."""
        started = time.perf_counter()
        counts = self.indexer.sync(COLLECTION, documents, cleanup="full")
        self.retriever.load(COLLECTION)
        # BM25 alone reads the sections, as the service's lexical half does (units are searched densely only).
        stored = self.store.all_chunks(COLLECTION)
        chunks = [c for c in stored if not is_unit(c.metadata)]
        self.document_of = [self.gold_of(str(c.metadata["document_id"])) for c in chunks]
        self.languages = np.array([str(c.metadata.get("language", "")) for c in chunks])
        self.lexical = LexicalIndex([c.text for c in chunks], list(self.languages))
        self.notes.append(
            f"{name}: {len(documents)} documents, {len(stored)} chunks ({len(chunks)} sections, "
            f"{len(stored) - len(chunks)} units; {counts.added} embedded, "
            f"{counts.skipped} reused, {counts.deleted} removed) in {time.perf_counter() - started:.0f} s"
        )
        return counts

    def rank(self, queries: Sequence[Query], *, depth: int = DEPTH) -> dict[str, Ranking]:
        """Each method's document ranking of every query; latencies include embedding the query where used."""
        out = {method: Ranking() for method in METHODS}
        for query in queries:
            start = time.perf_counter()
            vector = embed_query_array(self.store.embeddings, query.text)
            embed_ms = _since(start)
            for method, (ids, millis) in self._search(query, vector, depth=depth).items():
                out[method].add(query.gold, ids, millis + (embed_ms if method != "BM25 only" else 0.0))
        return out

    def _search(self, query: Query, vector: np.ndarray, *, depth: int) -> dict[str, tuple[list[str], float]]:
        start = time.perf_counter()
        hits = self.retriever.search(query.text, k=depth, language=query.language, query_vector=vector)
        ours = ([self.gold_of(h.document_id) for h in hits], _since(start))
        start = time.perf_counter()
        nearest = self.store.query(COLLECTION, vector, k=depth)
        dense = ([self.gold_of(str(c.metadata["document_id"])) for c in nearest], _since(start))
        start = time.perf_counter()
        found = self.lexical.search(query.text, language=query.language, k=depth, mask=self.languages == query.language)
        bm25 = ([self.document_of[h.index] for h in found], _since(start))
        return {"ours (hybrid)": ours, "BM25 only": bm25, "dense only": dense}


def _since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _rows(dataset: str, split: str, rankings: dict[str, Ranking], *, methods: Sequence[str] = METHODS) -> list[Row]:
    return [Row(dataset, split, method, rankings[method]) for method in methods]


def banking77_rows(folder: Path, work: Path, *, limit: int = 0) -> tuple[list[Row], list[str]]:
    """Dev (KB from 80% of train.csv, queries the other 20%), test (KB from all of train.csv) and cross-lingual.

    The full KB lists each intent's development questions after the others, so syncing it over the dev KB
    embeds only the sections holding them.
    """
    train = load_banking77(folder / "train.csv")
    build, dev = split_for_development(train)
    kb = EvalKnowledgeBase(work / "banking77")
    kb.sync("Banking77 dev KB (80% of train)", intent_documents(build))
    rows = _rows("Banking77", "dev: 20% of train (tuned on)", kb.rank(spread_sample(dev, limit)))
    kb.sync("Banking77 KB (all of train)", intent_documents([*build, *dev]))
    test = spread_sample(load_banking77(folder / "test.csv"), limit)
    rows += _rows("Banking77", "test (held out)", kb.rank(test))
    crosslingual = crosslingual_queries()
    for language in ("en", "it", "es", "pl"):
        queries = [q for q in crosslingual if q.language == language]
        rows += _rows(
            "Cross-lingual (ours)", f"{language}, English KB", kb.rank(queries), methods=("ours (hybrid)", "dense only")
        )
    return rows, kb.notes


def abcd_rows(folder: Path, work: Path) -> tuple[list[Row], list[str]]:
    """ABCD guidelines: the three sample conversations' openings, and one query per subflow from its own guideline."""
    guidelines = json.loads((folder / "guidelines.json").read_text(encoding="utf-8"))
    ontology = json.loads((folder / "ontology.json").read_text(encoding="utf-8"))
    sample = json.loads((folder / "abcd_sample.json").read_text(encoding="utf-8"))
    kb = EvalKnowledgeBase(work / "abcd")
    kb.sync("ABCD KB", guideline_documents(guidelines, ontology))
    openings = abcd_opening_queries(sample, subflow_ids(guidelines, ontology).values())
    rows = _rows("ABCD guidelines", "customer openings", kb.rank(openings))
    procedures = abcd_procedure_queries(guidelines, ontology)
    rows += _rows("ABCD guidelines", "per-subflow (not independent)", kb.rank(procedures))
    return rows, kb.notes


def demo_kb_rows(work: Path) -> tuple[list[Row], list[str]]:
    """The bundled four-language demo knowledge base with our own questions, most of them cross-lingual."""
    kb = EvalKnowledgeBase(work / "demo", gold_of=demo_topic)
    kb.sync("Demo KB", demo_documents())
    rows = _rows("Demo KB, 4 languages (ours)", "development (chosen on)", kb.rank(demo_queries("development")))
    rows += _rows("Demo KB, 4 languages (ours)", "unseen", kb.rank(demo_queries("unseen")))
    return rows, kb.notes


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table."""
    head = ["dataset", "split", "queries", "method", "R@1", "R@3", "MRR", "p50 ms", "p95 ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row.cells()) + " |" for row in rows])


def evaluate(data: Path, *, limit: int = 0) -> str:
    """Run the whole retrieval evaluation on the data folder; the results as Markdown."""
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)  # see kb_index/embeddings.py
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tactful-eval-") as tmp:
        work = Path(tmp)
        rows, notes = banking77_rows(data / "banking77", work, limit=limit)
        abcd, abcd_notes = abcd_rows(data / "abcd", work)
        demo, demo_notes = demo_kb_rows(work)
    weights = FusionWeights()
    rows += abcd + demo
    notes = [
        *notes,
        *abcd_notes,
        *demo_notes,
        f"fusion: {weights}; chunks asked per query: {DEPTH}; documents ranked by their best chunk",
        f"{date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
        f"limit {limit or 'none'}, {time.perf_counter() - started:.0f} s in all",
    ]
    return markdown_table(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes)
