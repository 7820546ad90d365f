"""Speed benchmark (not a test): indexing, re-indexing, search, assist and tone on the demo KB plus synthetic
documents, beside a naive baseline (LangChain's Chroma retriever, same e5 model, dense only).

    .venv/bin/python benchmarks/bench.py --chunks 10000

Prints a Markdown table; paste it into docs/benchmarks.md with the command and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine

from api.container import DEMO_CONVERSATIONS, DEMO_KB
from api.services.knowledge import passage_from_hit
from assist.engine import AssistEngine
from assist.models import Conversation, Passage
from assist.tone import check_tone
from kb_index.chunking import chunk_document
from kb_index.documents import SourceDocument
from kb_index.embeddings import E5Embeddings, embed_queries_many, embed_turns
from kb_index.indexing import Indexer
from kb_index.loaders import iter_paths, load_path
from kb_index.neutral import LanguageNeutralEmbeddings
from kb_index.retrieval import HybridRetriever
from kb_index.store import ChromaStore

QUERIES = [
    ("My parcel is late and the tracking has not moved for a week", "en"),
    ("Il mio pacco è in ritardo, cosa posso fare?", "it"),
    ("Me cobraron dos veces el mismo pedido", "es"),
    ("Nie mogę zalogować się na konto, zapomniałem hasła", "pl"),
    ("How do I cancel my Lumora Plus subscription?", "en"),
    ("Il termostato non si collega al Wi-Fi", "it"),
    ("¿Cuándo recibiré el reembolso de mi devolución?", "es"),
    ("Telewizor przyszedł uszkodzony", "pl"),
]
DRAFT_100 = (
    "Hi Ada, obviously the courier is late again!!! As I already said, you need to wait until the claim is "
    "processed. You entered the wrong address last time, so this is not our fault. I guarantee the refund today. "
    "Your order LX-2231 shipped on 12 November and the tracking link is https://track.example/LX-2231. "
    "Please check it again tomorrow and write back if nothing changes, we will look at it then and decide what "
    "to do next with the courier and the warehouse team, thank you for your patience."
)


class RecordingE5(E5Embeddings):
    """e5 that remembers the plain vectors it made, so the baseline can reuse them instead of embedding twice."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, np.ndarray] = {}

    def embed_passages_array(self, texts: Any) -> np.ndarray:
        out = super().embed_passages_array(texts)
        self.seen.update(zip(texts, out, strict=True))
        return out


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


def synthetic(base: list[SourceDocument], target_chunks: int) -> list[SourceDocument]:
    """The demo KB plus variants (other product lines, other numbers) until ``target_chunks`` chunks."""
    docs, total, rng = list(base), sum(len(chunk_document(d)) for d in base), random.Random(7)
    i = 0
    while total < target_chunks:
        src = base[i % len(base)]
        model = f"LX-{1000 + i}"
        text = re.sub(r"\b(\d+)\b", lambda m: str(int(m.group(1)) + rng.randint(0, 3)), src.text)
        doc = replace(
            src, id=f"{src.id}-{model}", title=f"{src.title} ({model})", text=f"{text}\n\nApplies to {model}."
        )
        docs.append(doc)
        total += len(chunk_document(doc))
        i += 1
    return docs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument(
        "--baseline-index-chunks",
        type=int,
        default=500,
        help="chunks the baseline embeds to measure its indexing speed",
    )
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--serving-memory", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--reuse", metavar="DIR", help="measure search, assist and tone on an earlier run's index")
    args = parser.parse_args()
    if args.serving_memory:
        print(f"{serving_memory(Path(args.serving_memory), args.repeat):.0f}")
        return
    if args.reuse:
        e5 = E5Embeddings()
        store = ChromaStore.open(data_dir=Path(args.reuse), url="", embeddings=LanguageNeutralEmbeddings(e5))
        n = store.count("tactful_chunks_v1")
        print_rows([("chunks indexed", f"{n:,}", f"{n:,}"), *serving_rows(Path(args.reuse), store, e5, args.repeat)])
        return

    base = [load_path(p, root=DEMO_KB) for p in iter_paths([DEMO_KB])]
    docs = synthetic(base, args.chunks)
    n_chunks = sum(len(chunk_document(d)) for d in docs)
    tmp = Path(tempfile.mkdtemp(prefix="tactful-bench-"))
    plain = RecordingE5()
    store = ChromaStore.open(data_dir=tmp, url="", embeddings=LanguageNeutralEmbeddings(plain))
    indexer = Indexer(store, create_engine(f"sqlite:///{tmp / 'bench.db'}"))
    rows: list[tuple[str, str, str]] = []

    start = time.perf_counter()
    indexer.sync("tactful_chunks_v1", docs)
    first = time.perf_counter() - start
    start = time.perf_counter()
    again = indexer.sync("tactful_chunks_v1", docs)
    no_change = time.perf_counter() - start
    assert again.added == 0, again
    changed = list(docs)
    changed[0] = replace(changed[0], text=changed[0].text + "\n\nUpdated.")
    start = time.perf_counter()
    indexer.sync("tactful_chunks_v1", changed)
    one_doc = time.perf_counter() - start

    print(f"first index {first:.1f} s, no change {no_change:.2f} s, one document {one_doc:.2f} s", flush=True)

    # Baseline: LangChain's Chroma vector store and retriever, plain e5, dense only, no change detection.
    from langchain_chroma import Chroma
    from langchain_core.documents import Document

    baseline_client = store.client
    subset = [c for d in docs for c in chunk_document(d)][: args.baseline_index_chunks]
    lc = Chroma(client=baseline_client, collection_name="baseline_index", embedding_function=E5Embeddings())
    start = time.perf_counter()
    lc.add_documents([Document(page_content=c.page_content, metadata=c.metadata) for c in subset])
    base_rate = len(subset) / (time.perf_counter() - start)
    col = baseline_client.get_or_create_collection("baseline_full")
    items = list(plain.seen.items())
    for i in range(0, len(items), 2000):
        part = items[i : i + 2000]
        col.add(
            ids=[f"b{i + j}" for j in range(len(part))],
            documents=[t for t, _ in part],
            embeddings=[v.tolist() for _, v in part],
        )
    rate = n_chunks / first
    rows += [
        ("chunks indexed", f"{n_chunks:,} ({len(docs):,} documents)", f"{n_chunks:,} (same vectors)"),
        (
            "first index",
            f"{first:.0f} s ({rate:.1f} chunks/s)",
            f"{base_rate:.1f} chunks/s (measured on {len(subset)})",
        ),
        (
            "re-index, no change",
            f"{no_change:.2f} s ({first / no_change:.0f}× faster than first)",
            f"≈ {n_chunks / base_rate:.0f} s (re-embeds everything)",
        ),
        ("re-index, one document changed", f"{one_doc:.2f} s", f"≈ {n_chunks / base_rate:.0f} s"),
    ]
    import resource

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("peak memory of the indexing process", f"{rss_mb:.0f} MB", "n/a"))
    print_rows(rows + serving_rows(tmp, store, plain, args.repeat))


def print_rows(rows: list[tuple[str, str, str]]) -> None:
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| measure | Tactful | baseline |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def serving_rows(folder: Path, store: ChromaStore, e5: E5Embeddings, repeat: int) -> list[tuple[str, str, str]]:
    """Search, assist and tone timings on the index in ``folder``, beside the baseline's dense search.

    Two assist figures: a new customer turn (its text embedded: about 1 ms per token here) and the agent
    editing the draft while the customer's turns stay the same (their vector comes from the query cache), the
    call a live sidebar makes most. Searches and the baseline run with the query cache off.
    """
    import json

    from langchain_chroma import Chroma

    retriever = HybridRetriever(store)
    start = time.perf_counter()
    retriever.load("tactful_chunks_v1")
    load_s = time.perf_counter() - start
    cache_size, e5.queries.size = e5.queries.size, 0
    qi = iter(range(10**9))

    def one_search() -> None:
        query, language = _q(next(qi))
        retriever.search(query, k=5, language=language)

    s50, s95 = timed(one_search, repeat)
    base_e5 = E5Embeddings(query_cache=0)
    full = Chroma(client=store.client, collection_name="baseline_full", embedding_function=base_e5)
    base_retriever = full.as_retriever(search_kwargs={"k": 5})
    qi2 = iter(range(10**9))
    b50, b95 = timed(lambda: base_retriever.invoke(_q(next(qi2))[0]), repeat)

    engine = AssistEngine(_PassageAdapter(retriever))
    convs = [Conversation.model_validate(c) for c in json.loads(DEMO_CONVERSATIONS.read_text(encoding="utf-8"))]
    ci = iter(range(10**9))
    a50, a95 = timed(lambda: engine.assist(convs[next(ci) % len(convs)]), repeat)
    e5.queries.size = cache_size
    # A live conversation: the agent's sidebar assisted on the earlier turns; now the customer writes again.
    before = [_without_last_customer_turn(c) for c in convs]
    samples = []
    for i in range(repeat):
        e5.queries.clear()
        engine.assist(before[i % len(convs)])
        start = time.perf_counter()
        engine.assist(convs[i % len(convs)])
        samples.append((time.perf_counter() - start) * 1000)
    n50, n95 = percentiles(samples)
    drafts = [" ".join(DRAFT_100.split()[: 20 + i]) for i in range(60)]
    # As the service runs it: a turn's retrieval is kept while the agent edits the draft (the index is fixed here).
    typing = AssistEngine(_PassageAdapter(retriever), index_version=lambda: 0)
    for conv in convs:
        typing.assist(conv)  # the customer's turns arrive: embedded and retrieved once
    di = iter(range(10**9))

    def edit_draft() -> None:
        i = next(di)
        typing.assist(convs[i % len(convs)], draft=drafts[i % len(drafts)])

    d50, d95 = timed(edit_draft, repeat)
    t50, t95 = timed(
        lambda: check_tone(DRAFT_100, language="en", customer_name="Ada", contact_level="high_touch"), repeat * 5
    )
    serving = subprocess.run(
        [sys.executable, __file__, "--serving-memory", str(folder), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    return [
        ("lexical index load", f"{load_s:.2f} s", "n/a"),
        ("search p50 / p95 (new question)", f"{s50:.1f} / {s95:.1f} ms (hybrid)", f"{b50:.1f} / {b95:.1f} ms (dense)"),
        ("assist p50 / p95, conversation opened (every turn embedded)", f"{a50:.1f} / {a95:.1f} ms", "n/a"),
        ("assist p50 / p95, new customer turn (earlier turns cached)", f"{n50:.1f} / {n95:.1f} ms", "n/a"),
        ("assist p50 / p95, draft edited (rules, tone included)", f"{d50:.1f} / {d95:.1f} ms", "n/a"),
        ("tone check p50 / p95 (100 words)", f"{t50:.2f} / {t95:.2f} ms", "n/a"),
        ("memory serving the index (model, Chroma, BM25, engine; RSS)", f"{serving} MB", "n/a"),
    ]


def serving_memory(folder: Path, repeat: int) -> float:
    """Resident memory (MB) of a fresh process that opens the benchmark's index and serves searches and assists
    from it, as the service does after a restart (no indexing in this process)."""
    import json

    store = ChromaStore.open(data_dir=folder, url="", embeddings=LanguageNeutralEmbeddings(E5Embeddings()))
    retriever = HybridRetriever(store)
    retriever.load("tactful_chunks_v1")
    engine = AssistEngine(_PassageAdapter(retriever))
    convs = [Conversation.model_validate(c) for c in json.loads(DEMO_CONVERSATIONS.read_text(encoding="utf-8"))]
    for i in range(repeat):
        query, language = _q(i)
        retriever.search(query, k=5, language=language)
        engine.assist(convs[i % len(convs)])
    status = Path("/proc/self/status").read_text(encoding="utf-8")
    return int(re.search(r"VmRSS:\s+(\d+)", status)[1]) / 1024  # type: ignore[index]


def _without_last_customer_turn(conversation: Conversation) -> Conversation:
    last = max(i for i, m in enumerate(conversation.messages) if m.role == "customer")
    earlier = conversation.messages[:last]
    return conversation.model_copy(update={"messages": earlier or conversation.messages[:1]})


def _q(i: int) -> tuple[str, str]:
    return QUERIES[i % len(QUERIES)]


class _PassageAdapter:
    """The engine's retriever protocol over the hybrid retriever, as the service wires it (the knowledge service's
    query vectors included: the next steps compare steps with the conversation's sentences through them)."""

    def __init__(self, retriever: HybridRetriever) -> None:
        self.retriever = retriever

    def embed_query(self, text: str) -> np.ndarray:
        return embed_turns(self.retriever.store.embeddings, text)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:  # as the knowledge service offers it
        return embed_queries_many(self.retriever.store.embeddings, texts)

    def search(
        self, query: str, *, k: int = 5, language: str | None = None, filters: dict[str, str] | None = None
    ) -> list[Passage]:
        return [
            passage_from_hit(h) for h in self.retriever.search(query, k=k, language=language or "", filters=filters)
        ]


if __name__ == "__main__":
    main()
