"""Scale benchmark (not a test; issue 10): search p50/p95, what a web worker holds in memory, and the cost of a
one-document update at several knowledge-base sizes, against a Chroma server.

    .venv/bin/python benchmarks/scale.py --sizes 10000,100000,300000 --repeat 200 --workdir DIR
    .venv/bin/python benchmarks/scale.py --workdir DIR --reuse   # measure DIR's collection again (a quieter moment)
    .venv/bin/python benchmarks/scale.py --report LOG...          # one table from the RESULT lines of several runs

It starts ``chroma run`` (from the venv) and the stand-in embeddings endpoint (``benchmarks/hash_embeddings.py``:
feature-hashed vectors, not a model; the bundled e5 cannot embed 300k chunks here in reasonable time), then grows
one collection through the sizes (``bench.py``'s chunks: the demo KB and synthetic variants, units beside sections).
At each size a fresh process builds a web worker's parts from settings (``Container.build``: the sarcasm scorer's
e5, the language identifier, the knowledge service, with ``TACTFUL_CHROMA_URL`` and
``TACTFUL_EMBEDDINGS_BASE_URL`` set) and starts it (the whole collection loaded, as a web worker does), then
measures. Ingest: ``--ingest indexer`` goes through the service's indexer (LangChain's record manager, the
endpoint over HTTP, Chroma's HTTP API, 64 chunks a call); ``--ingest bulk`` adds precomputed vectors of the same
function through Chroma's HTTP API in large batches, skipping the record manager and the endpoint. Prints the
figures per size, the log-log slope of each across the sizes, and a JSON line per size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import QUERIES, synthetic  # noqa: E402
from hash_embeddings import embed  # noqa: E402

from api.container import DEMO_KB, Container  # noqa: E402
from api.settings import Settings  # noqa: E402
from kb_index.chunking import is_unit  # noqa: E402
from kb_index.documents import SourceDocument  # noqa: E402
from kb_index.embeddings import OpenAICompatibleEmbeddings  # noqa: E402
from kb_index.indexing import Indexer, collection_name, scoped_chunks  # noqa: E402
from kb_index.loaders import iter_paths, load_path  # noqa: E402
from kb_index.neutral import shipped_reference_queries  # noqa: E402
from kb_index.store import ChromaStore  # noqa: E402

COLLECTION = collection_name(1)  # what a fresh service serves first
MODEL = "hash-384"
BULK = 4000  # chunks per Chroma add in --ingest bulk
UPDATE_EDITS = 5


class StandInEmbeddings(OpenAICompatibleEmbeddings):
    """The endpoint, plus the reference queries e5 brings, so the worker computes and holds hub scores as it does in
    production (the hash vectors make them meaningless, their cost is the same)."""

    def reference_queries(self) -> np.ndarray:
        return shipped_reference_queries()


# -- the orchestrating process -----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,300000")
    parser.add_argument("--repeat", type=int, default=200, help="searches per size")
    parser.add_argument("--ingest", choices=["indexer", "bulk"], default="indexer")
    parser.add_argument("--workdir", help="keep the Chroma data here (default: a temporary directory)")
    parser.add_argument("--reuse", action="store_true", help="measure the workdir's collection again, no ingest")
    parser.add_argument("--report", nargs="+", metavar="LOG", help="print the table of these runs' RESULT lines")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # JSON arguments of the measuring child
    args = parser.parse_args()
    if args.report:
        lines = [line for log in args.report for line in Path(log).read_text().splitlines()]
        found = [json.loads(line.removeprefix("RESULT ")) for line in lines if line.startswith("RESULT ")]
        _report(sorted(found, key=lambda r: int(r["chunks"])))
        return
    if args.measure:
        print(json.dumps(measure(**json.loads(args.measure))), flush=True)
        return
    sizes = sorted(int(s) for s in args.sizes.split(","))
    work = Path(args.workdir or tempfile.mkdtemp(prefix="tactful-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}; {work}")
    with _service([sys.executable, str(HERE / "hash_embeddings.py"), "--port", "{port}"], "/v1/embeddings") as embed_url, \
         _service([_chroma(), "run", "--path", str(work / "chroma"), "--host", "127.0.0.1", "--port", "{port}"],
                  "/api/v2/heartbeat", keep=True) as (chroma_url, chroma_pid):  # fmt: skip
        embed_url = embed_url[0] + "/v1"
        base = [load_path(p, root=DEMO_KB) for p in iter_paths([DEMO_KB])]
        if args.reuse:
            result = _measure_child(chroma_url, embed_url, work, repeat=args.repeat, probe=base[0])
            result.update(chroma_rss_mb=_rss_mb(chroma_pid), chroma_disk_mb=_disk_mb(work / "chroma"))
            result.update(size=result["snapshot_chunks"], chunks=result["snapshot_chunks"], ingest={})
            print("RESULT " + json.dumps(result), flush=True)
            return
        started = time.perf_counter()
        docs = synthetic(base, sizes[-1])
        print(f"{len(docs):,} documents made in {time.perf_counter() - started:.0f} s", flush=True)
        ingest = _Ingest(work, chroma_url, embed_url, mode=args.ingest)
        results = []
        for size in sizes:
            ingest.up_to(docs, size)
            result = _measure_child(chroma_url, embed_url, work, repeat=args.repeat, probe=base[0])
            result.update(size=size, chunks=ingest.count(), ingest=ingest.last, chroma_rss_mb=_rss_mb(chroma_pid),
                          chroma_disk_mb=_disk_mb(work / "chroma"))  # fmt: skip
            print("RESULT " + json.dumps(result), flush=True)
            results.append(result)
        _report(results)


class _Ingest:
    """Grows the collection document by document to a number of chunks, timing the writes."""

    def __init__(self, work: Path, chroma_url: str, embed_url: str, *, mode: str) -> None:
        from sqlalchemy import create_engine

        self.mode = mode
        self.store = ChromaStore.open(
            data_dir=work, url=chroma_url, embeddings=OpenAICompatibleEmbeddings(base_url=embed_url, model=MODEL)
        )
        self.indexer = Indexer(self.store, create_engine(f"sqlite:///{work / 'records.db'}"))
        self.done = 0  # documents written
        self.chunks = 0
        self.written = 0  # chunks added by _bulk
        self.last: dict[str, float] = {}

    def count(self) -> int:
        return self.store.count(COLLECTION)

    def up_to(self, docs: list[SourceDocument], size: int) -> None:
        batch: list[SourceDocument] = []
        n = self.chunks
        while n < size and self.done + len(batch) < len(docs):
            doc = docs[self.done + len(batch)]
            batch.append(doc)
            n += len(scoped_chunks(doc))
        started = time.perf_counter()
        if self.mode == "indexer":
            self.indexer.sync(COLLECTION, batch)
        else:
            self._bulk(batch)
        seconds = time.perf_counter() - started
        self.last = {
            "chunks": n - self.chunks,
            "seconds": round(seconds, 1),
            "per_s": round((n - self.chunks) / seconds),
        }
        print(f"ingested {n - self.chunks:,} chunks ({self.mode}) in {seconds:.0f} s, total {n:,}", flush=True)
        self.done += len(batch)
        self.chunks = n

    def _bulk(self, docs: list[SourceDocument]) -> None:
        col = self.store.collection(COLLECTION)
        pending: list[Any] = []
        for doc in docs:
            pending += scoped_chunks(doc)
            if len(pending) >= BULK:
                self._add(col, pending)
                pending = []
        if pending:
            self._add(col, pending)

    def _add(self, col: Any, chunks: list[Any]) -> None:
        texts = [c.page_content for c in chunks]
        ids = [f"bulk-{self.written + i}" for i in range(len(chunks))]
        col.add(ids=ids, documents=texts, metadatas=[c.metadata for c in chunks], embeddings=embed(texts))
        self.written += len(chunks)


def _measure_child(chroma_url: str, embed_url: str, work: Path, *, repeat: int, probe: SourceDocument) -> Any:
    spec = {"chroma_url": chroma_url, "embed_url": embed_url, "data_dir": str(work / f"worker-{time.time_ns()}"),
            "repeat": repeat, "probe": {"id": probe.id, "title": probe.title, "text": probe.text,
                                        "language": probe.language}}  # fmt: skip
    load_before = os.getloadavg()
    out = subprocess.run(
        [sys.executable, __file__, "--measure", json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise RuntimeError(f"the measuring process failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["load_average"] = [round(load_before[0], 1), round(os.getloadavg()[0], 1)]
    return result


# -- the measuring process: one web worker's parts -------------------------------------------------------------
def measure(*, chroma_url: str, embed_url: str, data_dir: str, repeat: int, probe: dict[str, str]) -> dict[str, Any]:
    settings = Settings(
        # Above the default (5 s): a page of the full load must not time out on a machine this busy; the pages'
        # own times are measured below (``page_ms``).
        chroma_timeout_s=60,
        data_dir=Path(data_dir), chroma_url=chroma_url, embeddings_base_url=embed_url, embeddings_model=MODEL,
        dev_open=True, _env_file=None,  # type: ignore[call-arg]
    )  # fmt: skip
    embeddings = StandInEmbeddings(base_url=embed_url, model=MODEL)
    out: dict[str, Any] = {}
    container = Container.build(settings, embeddings=embeddings)
    out["rss_mb_built"] = _rss_mb()  # the worker's parts, no index: the e5 model, the language identifier, ...
    started = time.perf_counter()
    container.start()  # the whole collection read from the Chroma server: vectors, BM25, hub scores
    out["start_load_s"] = round(time.perf_counter() - started, 2)
    out["rss_mb_loaded"] = _rss_mb()
    knowledge, retriever = container.knowledge, container.knowledge.retriever
    queries = _queries(retriever)
    for text, _ in queries:
        knowledge.embed_query(text)  # the endpoint's answers cached: the timings below are search itself
    samples = []
    for i in range(repeat):
        text, language = queries[i % len(queries)]
        t0 = time.perf_counter()
        hits = knowledge.search(text, k=5, language=language)
        samples.append((time.perf_counter() - t0) * 1000)
        assert hits, text
    out["search_ms"] = _p50_p95(samples)
    # An assist's query: the customer's sentences one per line; a query of several lines ranks topics from the
    # snapshot's vectors (``HybridRetriever._dense_by_topic``), not through Chroma.
    multi = [(f"{a}\n{b}", language) for (a, _), (b, language) in zip(queries, queries[1:] + queries[:1], strict=True)]
    for text, _ in multi:
        knowledge.embed_query(text)
    samples = []
    for i in range(repeat):
        text, language = multi[i % len(multi)]
        t0 = time.perf_counter()
        knowledge.search(text, k=5, language=language)
        samples.append((time.perf_counter() - t0) * 1000)
    out["search_two_lines_ms"] = _p50_p95(samples)
    out["embed_query_ms"] = _p50_p95(_timed(lambda: embeddings._embed_query(f"a new question {time.time_ns()}"), 50))
    out["rss_mb_searched"] = _rss_mb()
    out["page_ms"] = _pages(container)
    out["update"] = _updates(container, probe)
    out["rss_mb_after_updates"] = _rss_mb()
    started = time.perf_counter()
    # A full reload beside the serving snapshot (a re-index's switch): the worker's peak.
    out["rss_mb_reload_peak"] = _peak_rss_mb(lambda: retriever.load(COLLECTION))
    out["full_reload_s"] = round(time.perf_counter() - started, 2)
    out["rss_mb_peak"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["held_mb"] = _held(container)
    out["snapshot_chunks"] = len(retriever._snap.chunks)
    container.stop()
    return out


def _queries(retriever: Any) -> list[tuple[str, str]]:
    """The benchmark's eight customer questions and the first sentences of 92 sections, in their languages."""
    chunks = [c for c in retriever._snap.chunks if not is_unit(c.metadata)]
    picked = [chunks[i] for i in np.random.default_rng(7).choice(len(chunks), 92, replace=False)]
    # One line each (a section's title and body are on separate lines: a query of several lines takes another path).
    first = [" ".join(c.text.split(".")[0].split())[-200:] for c in picked]
    return list(QUERIES) + [
        (text, str(c.metadata.get("language", "en"))) for text, c in zip(first, picked, strict=True)
    ]


def _pages(container: Container) -> dict[str, float]:
    """One page of the full load (2,000 chunks with texts, metadata and vectors) read at the start and at the end of
    the collection: what the heaviest single request to Chroma costs, against ``TACTFUL_CHROMA_TIMEOUT_S``."""
    col = container.knowledge.retriever.store.collection(COLLECTION)
    include = ["documents", "metadatas", "embeddings"]
    last = max(col.count() - 2000, 0)
    document = str(container.knowledge.retriever._snap.chunks[-1].metadata["document_id"])
    return {
        "first": round(min(_timed(lambda: col.get(include=include, limit=2000, offset=0), 3)), 1),
        "last": round(min(_timed(lambda: col.get(include=include, limit=2000, offset=last), 3)), 1),
        # what ``update`` reads: one document's chunks by a metadata filter
        "document": round(min(_timed(lambda: col.get(where={"document_id": document}, include=include), 3)), 1),
    }


def _updates(container: Container, probe: dict[str, str]) -> dict[str, Any]:
    """One new document added, edited ``UPDATE_EDITS`` times, then deleted: each written the way a job writes it
    (the indexer: record manager, endpoint, Chroma) and then followed by the serving snapshot (``update``)."""
    knowledge = container.knowledge
    indexer, retriever = knowledge.indexer, knowledge.retriever
    doc = SourceDocument(id="scale-probe-en", title=probe["title"], text=probe["text"], language=probe["language"])
    writes: dict[str, list[float]] = {"add": [], "edit": [], "delete": []}
    follows: dict[str, list[float]] = {"add": [], "edit": [], "delete": []}

    def step(kind: str, write: Callable[[], object]) -> None:
        writes[kind] += _timed(write, 1)
        follows[kind] += _timed(lambda: retriever.update(COLLECTION, [doc.id]), 1)

    step("add", lambda: indexer.sync(COLLECTION, [doc]))
    for i in range(UPDATE_EDITS):
        edited = replace(doc, text=f"{doc.text}\n\nRevision {i}: couriers answer claims by email.")
        step("edit", lambda d=edited: indexer.sync(COLLECTION, [d]))  # type: ignore[misc]
    step("delete", lambda: indexer.delete(COLLECTION, [doc.id]))
    return {
        "chunks_of_document": indexer.chunk_count(COLLECTION, doc.id) or len(scoped_chunks(doc)),
        "write_ms": {k: round(statistics.median(v), 1) for k, v in writes.items()},
        "follow_ms": {k: round(statistics.median(v), 1) for k, v in follows.items()},
        "follow_edit_max_ms": round(max(follows["edit"]), 1),
    }


def _held(container: Container) -> dict[str, float]:
    """What the serving snapshot and the caches hold, in MB (Python's own object sizes, each object counted once, in
    this order: a chunk's text is counted with the chunks, not again with BM25)."""
    snap = container.knowledge.retriever._snap
    seen: set[int] = set()
    parts: dict[str, list[object]] = {
        "vectors": [snap.vectors],
        "chunks (ids, texts, metadata)": [snap.chunks],
        "BM25 (postings, lengths, slot maps)": [snap.lexical, snap.lexical_rows, snap.slots],
        "lookups (row map, unit parents, hub scores, languages, filter columns)": [
            snap.rows, snap.parents, snap.hubness, snap.languages, snap.fields
        ],
        "query vector cache": [getattr(container.knowledge.retriever.store.embeddings, "queries", None)],
    }  # fmt: skip
    return {name: round(sum(_deep_size(o, seen) for o in objs) / 2**20, 1) for name, objs in parts.items()}


def _deep_size(root: object, seen: set[int]) -> int:
    total, stack = 0, [root]
    while stack:
        obj = stack.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, np.ndarray):
            if obj.base is not None and obj.base is not obj:
                total += obj.nbytes  # a view: its data belongs to no other object counted here
            if obj.dtype == object:
                stack.extend(obj.ravel().tolist())
        elif isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            stack.append(vars(obj))
    return total


# -- helpers ---------------------------------------------------------------------------------------------------
def _timed(fn: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def _p50_p95(samples: list[float]) -> list[float]:
    ordered = sorted(samples)
    return [
        round(statistics.median(ordered), 2),
        round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 2),
    ]


def _rss_mb(pid: int | None = None) -> float:
    """Resident memory of ``pid`` and its children (this process alone when none), in MB."""
    pids = [pid] if pid else [os.getpid()]
    if pid:
        pids += [
            int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        ]
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return round(total / 1024)


def _peak_rss_mb(fn: Callable[[], object]) -> float:
    """The highest resident memory of this process while ``fn`` runs (sampled every 20 ms)."""
    peak, done = [_rss_mb()], threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak.append(_rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    return max(*peak, _rss_mb())


def _disk_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20)


def _chroma() -> str:
    return str(Path(sys.executable).parent / "chroma")


class _service:
    """A child process on a free port, waited for until ``health`` answers; its URL (and pid with ``keep``)."""

    def __init__(self, command: list[str], health: str, *, keep: bool = False) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.command = [c.replace("{port}", str(self.port)) for c in command]
        self.health, self.keep = health, keep
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Any:
        self.proc = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                method = "POST" if self.health.endswith("embeddings") else "GET"
                request = urllib.request.Request(
                    url + self.health, data=b'{"input": "x"}' if method == "POST" else None
                )
                urllib.request.urlopen(request, timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.proc.kill()
                    raise RuntimeError(f"{self.command[0]} did not start") from None
                time.sleep(0.2)
        return (url, self.proc.pid) if self.keep else (url,)

    def __exit__(self, *_: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _report(results: list[dict[str, Any]]) -> None:
    """The figures per size and the slope of each on log-log axes (1: linear in the chunks, 0: flat)."""
    rows: list[tuple[str, Callable[[dict[str, Any]], float]]] = [
        ("search p50 ms", lambda r: r["search_ms"][0]),
        ("search p95 ms", lambda r: r["search_ms"][1]),
        ("search, two lines (an assist's query) p50 ms", lambda r: r.get("search_two_lines_ms", [0.0, 0.0])[0]),
        ("search, two lines (an assist's query) p95 ms", lambda r: r.get("search_two_lines_ms", [0.0, 0.0])[1]),
        ("worker RSS, index loaded MB", lambda r: r["rss_mb_loaded"]),
        ("worker RSS minus its parts without index MB", lambda r: r["rss_mb_loaded"] - r["rss_mb_built"]),
        ("worker RSS, after searches and updates MB", lambda r: r["rss_mb_after_updates"]),
        ("worker RSS during a full reload beside the serving snapshot, peak MB", lambda r: r["rss_mb_reload_peak"]),
        ("full load at start s", lambda r: r["start_load_s"]),
        ("full reload s", lambda r: r["full_reload_s"]),
        ("one document edited: write (indexer) ms", lambda r: r["update"]["write_ms"]["edit"]),
        ("one document edited: followed by the worker ms", lambda r: r["update"]["follow_ms"]["edit"]),
        ("one document added: followed ms", lambda r: r["update"]["follow_ms"]["add"]),
        ("one document deleted: followed ms", lambda r: r["update"]["follow_ms"]["delete"]),
        ("Chroma get, one page of 2,000 at the start ms", lambda r: r.get("page_ms", {}).get("first", 0.0)),
        ("Chroma get, one page of 2,000 at the end ms", lambda r: r.get("page_ms", {}).get("last", 0.0)),
        (
            "Chroma get, one document's chunks (where document_id) ms",
            lambda r: r.get("page_ms", {}).get("document", 0.0),
        ),
        ("Chroma server RSS MB", lambda r: r["chroma_rss_mb"]),
        ("Chroma data on disk MB", lambda r: r["chroma_disk_mb"]),
    ]
    rows += [(f"held: {name} MB", lambda r, n=name: r["held_mb"][n]) for name in results[0]["held_mb"]]  # type: ignore[misc]
    sizes = [r["chunks"] for r in results]
    print("\n| measure | " + " | ".join(f"{s:,} chunks" for s in sizes) + " | log-log slope |")
    print("|---|" + "---|" * (len(sizes) + 1))
    for name, get in rows:
        values = [get(r) for r in results]
        slope = _slope(sizes, values)
        print(f"| {name} | " + " | ".join(f"{v:,.1f}" for v in values) + f" | {slope} |")
    print("| load average (before, after) | " + " | ".join(f"{r['load_average']}" for r in results) + " | |")


def _slope(sizes: list[int], values: list[float]) -> str:
    if len(sizes) < 2 or min(values) <= 0:
        return "n/a"
    return f"{np.polyfit(np.log(sizes), np.log(values), 1)[0]:.2f}"


if __name__ == "__main__":
    main()
