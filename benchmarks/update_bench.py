"""One-document update benchmark (not a test): what a serving process pays to follow a change of one document at
10,000 chunks, a full reload of the collection (before) against an update with the changed document only (after).

    .venv/bin/python benchmarks/update_bench.py --chunks 10000 --repeat 10
    .venv/bin/python benchmarks/update_bench.py --reuse /tmp/tactful-update-bench-XXXX --repeat 10

The chunks are ``bench.py``'s (the demo KB plus synthetic variants), but their vectors are pseudo-random unit
vectors drawn from each text's hash, not e5's: embedding 10,000 chunks takes 6-15 minutes here, and neither a reload
nor an update embeds anything (they read stored vectors; hub scores use the shipped reference queries as always).
Run it with ``PYTHONPATH=<a checkout of an earlier commit>`` to measure that commit's reload (its retriever has no
``update``: only the reload rows are printed). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings
from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import synthetic

from api.container import DEMO_KB
from kb_index.documents import SourceDocument
from kb_index.indexing import Indexer
from kb_index.loaders import iter_paths, load_path
from kb_index.neutral import shipped_reference_queries
from kb_index.retrieval import HybridRetriever
from kb_index.store import ChromaStore

COLLECTION = "tactful_chunks_v1"
QUERIES = [
    ("My parcel is late and the tracking has not moved for a week", "en"),
    ("Il mio pacco è in ritardo, cosa posso fare?", "it"),
    ("Me cobraron dos veces el mismo pedido", "es"),
    ("Nie mogę zalogować się na konto, zapomniałem hasła", "pl"),
]


class HashVectors(Embeddings):
    """A unit vector per text, drawn from its hash: stored vectors without the cost of e5 (see the module doc)."""

    def reference_queries(self) -> np.ndarray:
        return shipped_reference_queries()

    def _vector(self, text: str) -> list[float]:
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little"))
        v = rng.standard_normal(384).astype(np.float32)
        return (v / np.linalg.norm(v)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)

    def embed_query_array(self, text: str) -> np.ndarray:
        return np.asarray(self._vector(text), dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--reuse", metavar="DIR", help="the index of an earlier run (built when not given)")
    args = parser.parse_args()
    base = [load_path(p, root=DEMO_KB) for p in iter_paths([DEMO_KB])]
    docs = synthetic(base, args.chunks)
    folder = Path(args.reuse or tempfile.mkdtemp(prefix="tactful-update-bench-"))
    store = ChromaStore.open(data_dir=folder, url="", embeddings=HashVectors())
    indexer = Indexer(store, create_engine(f"sqlite:///{folder / 'bench.db'}"))
    if not args.reuse:
        start = time.perf_counter()
        indexer.sync(COLLECTION, docs)
        print(
            f"indexed {store.count(COLLECTION):,} chunks in {time.perf_counter() - start:.0f} s: {folder}", flush=True
        )
    retriever = HybridRetriever(store)
    rows = [("chunks", f"{store.count(COLLECTION):,} ({len(docs):,} documents)")]
    loads = _timed(lambda: retriever.load(COLLECTION), args.repeat)
    rows.append(("full reload of the collection, median / max", _ms(loads)))
    if hasattr(retriever, "update"):
        rows += _update_rows(retriever, indexer, docs[len(base)], args.repeat)
    rows += _grouping_rows(retriever, docs, args.repeat)
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| measure | figure |\n|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def _update_rows(
    retriever: HybridRetriever, indexer: Indexer, doc: SourceDocument, repeat: int
) -> list[tuple[str, str]]:
    """Edit one document ``repeat`` times (its chunks re-written in Chroma, untimed), each followed by an update; then
    delete it and add it back. Checks that the updated snapshot searches as a fresh full load does."""
    follow = partial(retriever.update, COLLECTION, [doc.id])
    edits = []
    for i in range(repeat):
        indexer.sync(COLLECTION, [replace(doc, text=f"{doc.text}\n\nRevision {i}: couriers answer claims by email.")])
        edits += _timed(follow, 1)
    indexer.delete(COLLECTION, [doc.id])
    deletes = _timed(follow, 1)
    indexer.sync(COLLECTION, [doc])
    adds = _timed(follow, 1)
    loaded = HybridRetriever(retriever.store)
    loaded.load(COLLECTION)
    for query, language in QUERIES:
        mine = [(h.chunk_id, round(h.score, 5)) for h in retriever.search(query, k=10, language=language)]
        assert mine == [(h.chunk_id, round(h.score, 5)) for h in loaded.search(query, k=10, language=language)]
    return [
        ("update, one document edited (its chunks read again), median / max", _ms(edits)),
        ("update, one document deleted", _ms(deletes)),
        ("update, one document added", _ms(adds)),
        ("updated and reloaded snapshots: same hits and scores (4 queries, top 10)", "yes"),
    ]


def _grouping_rows(retriever: HybridRetriever, docs: list[SourceDocument], repeat: int) -> list[tuple[str, str]]:
    """What an upload pays when some document declares no version (kb_index.versions): the section vectors read
    (a serving process: its snapshot's, and the uploaded document's from Chroma; ``tactful worker``: every chunk's
    from Chroma), then the whole base grouped. The synthetic variants' ids carry no language suffix: all are free."""
    try:
        from kb_index.versions import free_documents, group_versions, stored_profiles
    except ImportError:  # an earlier commit: no grouping
        return []
    store, uploaded = retriever.store, docs[-1].id
    free = len(free_documents(docs))
    served = _timed(
        lambda: retriever.section_vectors(COLLECTION) + store.chunks_of(COLLECTION, [uploaded], with_embeddings=True),
        repeat,
    )
    everything = _timed(lambda: store.all_chunks(COLLECTION, with_embeddings=True), repeat)
    chunks = store.all_chunks(COLLECTION, with_embeddings=True)
    grouped = _timed(lambda: group_versions(stored_profiles(chunks, docs)), repeat)
    return [
        ("versions found by content, a serving process: section vectors from its snapshot, median / max", _ms(served)),
        ("… `tactful worker`: every chunk's vector read from Chroma, median / max", _ms(everything)),
        (f"… then the whole base grouped ({free:,} free documents), median / max", _ms(grouped)),
    ]


def _timed(fn: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples):.1f} / {max(samples):.1f} ms"


if __name__ == "__main__":
    main()
