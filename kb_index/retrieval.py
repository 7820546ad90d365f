"""Hybrid retrieval: dense (Chroma, e5) and lexical (BM25, per-language analysis) fused by weighted reciprocal rank.

The lexical half only sees chunks in the query's language: a same-language keyword match must not push
aside the passage in another language that answers the question (cross-lingual queries stay dense). So BM25
only reorders the query-language chunks among the places they hold in the dense ranking; chunks in other
languages keep their dense places (in a one-language knowledge base this is plain weighted RRF).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kb_index.chunking import chunk_body
from kb_index.documents import topic_of_id
from kb_index.embeddings import embed_turns
from kb_index.lexical import LexicalIndex
from kb_index.store import ChromaStore, StoredChunk

RRF_K = 60
# A filter: a string must equal the chunk's field; a tuple of tags must meet the chunk's list field (a document's
# ``scope`` tags) in at least one tag, and an empty tuple matches no chunk.
FilterValue = str | tuple[str, ...]
Filters = Mapping[str, FilterValue]


@dataclass(frozen=True)
class FusionWeights:
    dense: float = 1.0
    lexical: float = 0.6
    candidates: int = 30
    # dense score = cosine - hub_penalty * how close the chunk is to everything. On the Banking77 dev split
    # recall@1 went 0.876 / 0.882 / 0.889 for 1.0 / 0.75 / 0.5; 0.5 lost two of sixteen cross-lingual queries
    # on the demo knowledge base (docs/evaluation.md).
    hub_penalty: float = 0.75
    hub_neighbours: int = 10


@dataclass
class Hit:
    document_id: str
    chunk_id: str
    title: str
    text: str
    score: float
    relevance: float
    language: str
    kind: str
    section: str
    source: str
    position: int = 0
    topic: str = ""


@runtime_checkable
class HubReference(Protocol):
    """Embeddings that know typical queries, to measure how much of a "hub" a passage is (``neutral.py``)."""

    def reference_queries(self) -> np.ndarray: ...


@dataclass
class _Snapshot:
    collection: str
    chunks: list[StoredChunk] = field(default_factory=list)
    lexical: LexicalIndex | None = None
    languages: np.ndarray | None = None
    hubness: dict[str, float] = field(default_factory=dict)
    vectors: np.ndarray | None = None  # row i is chunks[i]'s stored vector
    rows: dict[str, int] = field(default_factory=dict)
    # A metadata field's values as an array, row i for chunks[i]: filters mask BM25 in microseconds, not a Python
    # loop over every chunk (built once per field and snapshot; a snapshot never changes).
    fields: dict[str, np.ndarray] = field(default_factory=dict)

    def field_values(self, key: str) -> np.ndarray:
        values = self.fields.get(key)
        if values is None:
            values = np.array([str(c.metadata.get(key, "")) for c in self.chunks], dtype=object)
            self.fields[key] = values
        return values

    def holding_any(self, key: str, tags: tuple[str, ...]) -> np.ndarray:
        """Row i: whether chunks[i]'s list field ``key`` (a document's scope tags) holds one of ``tags``; no tags:
        no chunk. One cached boolean column per tag."""
        mask = np.zeros(len(self.chunks), dtype=bool)
        for tag in tags:
            column = self.fields.get(f"{key}\0{tag}")
            if column is None:
                column = np.array([tag in _tags(c.metadata.get(key)) for c in self.chunks], dtype=bool)
                self.fields[f"{key}\0{tag}"] = column
            mask |= column
        return mask


class HybridRetriever:
    """Searches the serving collection; ``load`` swaps in another one atomically (the old one serves until then)."""

    def __init__(self, store: ChromaStore, *, weights: FusionWeights | None = None) -> None:
        self.store = store
        self.weights = weights or FusionWeights()
        self._snap = _Snapshot(collection="")
        self._lock = threading.Lock()

    @property
    def collection(self) -> str:
        return self._snap.collection

    def load(self, collection: str) -> None:
        """Build the lexical index of ``collection`` and make it the one searched."""
        chunks = self.store.all_chunks(collection, with_embeddings=True)
        langs = [str(c.metadata.get("language", "")) for c in chunks]
        vectors = [c.embedding for c in chunks if c.embedding is not None]
        snap = _Snapshot(
            collection, chunks, LexicalIndex([c.text for c in chunks], langs), np.array(langs), self._hubness(chunks)
        )
        if chunks and len(vectors) == len(chunks):
            # Kept as one matrix (1.5 KB a chunk) so that a BM25-only find is scored without asking Chroma.
            snap.vectors = np.vstack(vectors).astype(np.float32)
            snap.rows = {c.id: i for i, c in enumerate(chunks)}
        for chunk in chunks:
            chunk.embedding = None
        with self._lock:
            self._snap = snap

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        language: str = "",
        filters: Filters | None = None,
        query_vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """The ``k`` best chunks for ``query``, best first."""
        snap = self._snap
        if not snap.collection or not snap.chunks or not query.strip():
            return []
        qvec = query_vector if query_vector is not None else embed_turns(self.store.embeddings, query)
        n = max(self.weights.candidates, k)
        where = _where(filters)
        dense = self._rerank_dense(snap, self.store.query(snap.collection, qvec, k=n, where=where))
        lexical = self._lexical(snap, query, language=language, k=n, filters=filters or {})
        return self._fuse(snap, dense, lexical, qvec, k=k, language=language)

    def _hubness(self, chunks: list[StoredChunk]) -> dict[str, float]:
        """Mean similarity of each chunk to its nearest typical queries (CSLS-style hub score)."""
        embeddings = self.store.embeddings
        if not isinstance(embeddings, HubReference) or not chunks or self.weights.hub_penalty <= 0:
            return {}
        refs = np.asarray(embeddings.reference_queries(), dtype=np.float32)
        vectors = np.vstack([c.embedding for c in chunks if c.embedding is not None])
        if vectors.shape[1] != refs.shape[1] or len(vectors) != len(chunks):
            return {}
        hubness: dict[str, float] = {}
        for start in range(0, len(chunks), 4096):
            sims = vectors[start : start + 4096] @ refs.T
            top = np.sort(sims, axis=1)[:, -self.weights.hub_neighbours :].mean(axis=1)
            hubness.update((c.id, float(h)) for c, h in zip(chunks[start : start + 4096], top, strict=True))
        return hubness

    def _rerank_dense(self, snap: _Snapshot, dense: list[StoredChunk]) -> list[StoredChunk]:
        if not snap.hubness:
            return dense
        penalty = self.weights.hub_penalty
        return sorted(dense, key=lambda c: -((1.0 - c.distance) - penalty * snap.hubness.get(c.id, 0.0)))

    def _lexical(self, snap: _Snapshot, query: str, *, language: str, k: int, filters: Filters) -> list[StoredChunk]:
        if snap.lexical is None or snap.languages is None or not language or self.weights.lexical <= 0:
            return []
        mask = snap.languages == language
        for key, value in filters.items():
            mask &= snap.field_values(key) == value if isinstance(value, str) else snap.holding_any(key, value)
        hits = snap.lexical.search(query, language=language, k=k, mask=mask)
        return [snap.chunks[h.index] for h in hits]

    def _fuse(
        self,
        snap: _Snapshot,
        dense: list[StoredChunk],
        lexical: list[StoredChunk],
        qvec: np.ndarray,
        *,
        k: int,
        language: str,
    ) -> list[Hit]:
        fused: dict[str, float] = {}
        chunks: dict[str, StoredChunk] = {}
        for weight, ranked in ((self.weights.dense, dense), (self.weights.lexical, lexical)):
            for rank, chunk in enumerate(ranked):
                fused[chunk.id] = fused.get(chunk.id, 0.0) + weight / (RRF_K + rank + 1)
                chunks.setdefault(chunk.id, chunk)
        order = sorted(fused, key=lambda cid: -fused[cid])
        if lexical:
            order = keep_other_languages_in_place(order, [(c.id, _language(c)) for c in dense], language=language)
        best = order[:k]
        relevance = {c.id: 1.0 - c.distance for c in dense}
        missing = [cid for cid in best if cid not in relevance]
        if snap.vectors is not None:
            for cid in missing:
                if cid in snap.rows:
                    relevance[cid] = float(snap.vectors[snap.rows[cid]] @ qvec)
        else:
            for cid, vec in self.store.embeddings_of(snap.collection, missing).items():
                relevance[cid] = float(vec @ qvec)
        top = (self.weights.dense + self.weights.lexical) / (RRF_K + 1)
        # A chunk kept in its dense place takes that place's score, so scores stay in rank order.
        scores = sorted((fused[cid] / top for cid in best), reverse=True)
        return [
            _hit(chunks[cid], score=score, relevance=relevance.get(cid, 0.0))
            for cid, score in zip(best, scores, strict=True)
        ]


def keep_other_languages_in_place(order: list[str], dense: list[tuple[str, str]], *, language: str) -> list[str]:
    """``order`` (fused, best first), except that chunks not in ``language`` keep their places in ``dense``.

    ``dense`` is the dense ranking as ``(chunk id, language)``. The query-language chunks (BM25's own finds
    included) fill the query-language places of ``dense`` in fused order; any left over come last.
    """
    kept = {cid for cid, lang in dense if lang != language}
    if not kept:
        return order
    same = iter([cid for cid in order if cid not in kept])
    places = [cid if lang != language else next(same, "") for cid, lang in dense]
    return [cid for cid in places if cid] + list(same)


def _language(chunk: StoredChunk) -> str:
    return str(chunk.metadata.get("language", ""))


def _where(filters: Filters | None) -> dict[str, Any] | None:
    items = [_condition(key, value) for key, value in (filters or {}).items() if isinstance(value, tuple) or value]
    if not items:
        return None
    return items[0] if len(items) == 1 else {"$and": items}


def _condition(key: str, value: FilterValue) -> dict[str, Any]:
    """Chroma's condition for one filter: equality for a string, "the list field holds one of" for a tuple (an
    empty tuple matches nothing: no tag is the empty string)."""
    if isinstance(value, str):
        return {key: value}
    holds = [{key: {"$contains": tag}} for tag in value] or [{key: {"$contains": ""}}]
    return holds[0] if len(holds) == 1 else {"$or": holds}


def _tags(value: object) -> tuple[str, ...]:
    """A chunk's list field as stored (Chroma gives a list back; a lone string is one tag)."""
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def _hit(chunk: StoredChunk, *, score: float, relevance: float) -> Hit:
    meta = chunk.metadata
    return Hit(
        document_id=str(meta.get("document_id", "")),
        chunk_id=chunk.id,
        title=str(meta.get("title", "")),
        text=chunk_body(chunk.text),
        score=round(score, 6),
        relevance=round(relevance, 6),
        language=str(meta.get("language", "")),
        kind=str(meta.get("kind", "")),
        section=str(meta.get("section", "")),
        source=str(meta.get("source", "")),
        position=int(meta.get("position", 0) or 0),
        topic=str(
            meta.get("topic", "") or topic_of_id(str(meta.get("document_id", "")), str(meta.get("language", "")))
        ),
    )
