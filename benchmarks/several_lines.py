"""What ranking a query of several lines costs as the knowledge base grows: every chunk scanned (below
``kb_index.retrieval.SCAN_LIMIT``) against each line's nearest chunks from Chroma's index (above it). A script, not a
test (docs/deploy.md, "What a web worker keeps in memory", item 5; docs/benchmarks.md).

    .venv/bin/python benchmarks/several_lines.py --sizes 10000,100000 --repeat 50

Each size is an embedded Chroma collection of synthetic chunks written straight to Chroma: documents of 17 chunks
(the demo knowledge base's average), each chunk a unit vector near its document's random centre, so the index has
neighbourhoods to find; a query is 4 lines, each near one of 4 documents. What is timed is the dense ranking of the
lines (``HybridRetriever._dense_by_topic``, the line vectors given: embedding them costs the same either way), with
the same snapshot and the same lines both ways; ``agree`` is the share of the scan's first 4 documents (a query of 4 lines, each near one) that the
index-driven ranking also puts first 4 (synthetic neighbourhoods: a check that it finds the same things, not a
retrieval figure).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb_index.embeddings import E5Embeddings  # noqa: E402
from kb_index.neutral import LanguageNeutralEmbeddings  # noqa: E402
from kb_index.retrieval import HybridRetriever  # noqa: E402
from kb_index.store import ChromaStore  # noqa: E402

PER_DOCUMENT = 17
LINES = 4
WORDS = [f"w{i}" for i in range(3000)]


def build(store: ChromaStore, name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` chunks in collection ``name``; the document centres."""
    documents = max(1, size // PER_DOCUMENT)
    centres = rng.standard_normal((documents, 384)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    col = store.collection(name)
    for start in range(0, size, 5000):
        rows = np.arange(start, min(size, start + 5000))
        docs = rows // PER_DOCUMENT % documents
        vectors = centres[docs] + 0.02 * rng.standard_normal((len(rows), 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        col.add(
            ids=[f"d{d}#{r}" for d, r in zip(docs, rows, strict=True)],
            embeddings=vectors,
            documents=[" ".join(rng.choice(WORDS, 30)) for _ in rows],
            metadatas=[
                {"document_id": f"d{d}", "language": "en", "kind": "faq", "position": int(r % PER_DOCUMENT)}
                for d, r in zip(docs, rows, strict=True)
            ],
        )
    return centres


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    print("| chunks | scan p50 / p95 ms | nearest from Chroma p50 / p95 ms | agree |")
    print("|---|---|---|---|")
    embeddings = LanguageNeutralEmbeddings(E5Embeddings())
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="tactful-lines-") as tmp:
            store = ChromaStore.open(data_dir=Path(tmp), url="", embeddings=embeddings)
            name = f"tactful_lines_{size}"
            centres = build(store, name, size, rng)
            retriever = HybridRetriever(store)
            retriever.load(name)
            snap = retriever._snap
            times: dict[str, list[float]] = {"scan": [], "near": []}
            agree = []
            for _ in range(args.repeat):
                picked = centres[rng.choice(len(centres), LINES, replace=False)]
                lines = picked + 0.02 * rng.standard_normal(picked.shape).astype(np.float32)
                lines /= np.linalg.norm(lines, axis=1, keepdims=True)
                qvec = lines.mean(axis=0)
                qvec /= np.linalg.norm(qvec)
                firsts: dict[str, list[str]] = {}
                for mode, limit in (("scan", 10**12), ("near", 0)):
                    retriever.scan_limit = limit
                    start = time.perf_counter()
                    ranked = retriever._dense_by_topic(snap, lines, qvec, k=90, filters=None, matched={})
                    times[mode].append((time.perf_counter() - start) * 1000)
                    firsts[mode] = list(dict.fromkeys(str(c.metadata["document_id"]) for c in ranked))[:LINES]
                agree.append(len(set(firsts["scan"]) & set(firsts["near"])) / max(1, len(firsts["scan"])))
            print(f"| {size:,} | {percentile(times['scan'], 50):.1f} / {percentile(times['scan'], 95):.1f} | "
                  f"{percentile(times['near'], 50):.1f} / {percentile(times['near'], 95):.1f} | "
                  f"{np.mean(agree):.2f} |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
