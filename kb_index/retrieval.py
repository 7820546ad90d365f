"""Hybrid retrieval: dense (Chroma, e5) and lexical (BM25, per-language analysis) fused by weighted reciprocal rank.

The lexical half only sees chunks in the query's language: a same-language keyword match must not push
aside the passage in another language that answers the question (cross-lingual queries stay dense). So BM25
only reorders the query-language chunks among the places they hold in the dense ranking; chunks in other
languages keep their dense places (in a one-language knowledge base this is plain weighted RRF).

Units (a question, a bullet, a step: ``kb_index.chunking``) are searched beside the sections that hold them, and
each ranking is folded onto sections before fusion: a section ranks at the place of its best unit or of itself,
and the hit says which unit matched (``Hit.matched``).

A query of several lines (the sentences of a conversation, one per line: ``assist.engine.build_query``) is read
line by line on the dense side: each topic (a document and its versions in other languages) gathers, for every
line, the score of its best chunk, lines that tell topics apart counting more, and topics rank by the total; a
topic's chunks follow in the order of their own scores. A line about the order number and another about the charge then both count for the billing topic, even
when each finds it through a different chunk or language version, and one vague line ("what now?") cannot hand
the query to a "hub" chunk close to everything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from kb_index.chunking import PARENT, chunk_body, is_unit
from kb_index.documents import topic_of_id
from kb_index.embeddings import combine_turns, embed_queries_array, embed_turns, query_lines
from kb_index.errors import CollectionGone, StoreUnavailable
from kb_index.lexical import LexicalIndex
from kb_index.store import ChromaStore, StoredChunk

RRF_K = 60
T = TypeVar("T")
UNIT_DEPTH = 3  # with units, dense search asks this many times the candidates, since several fold onto one section
# After Chroma could not be reached, dense search reads the snapshot's vectors alone this long before asking again
# (a silent server costs one timeout a period, not one a request).
STORE_RETRY_S = 1.0
# Above this many chunks (after filters), a query of several lines is ranked over each line's nearest chunks from
# Chroma's index instead of over every chunk (the scan grows with the knowledge base: 63 ms p50 at 300k chunks, 9 ms
# through the index; below ~30k the scan is the cheaper).
SCAN_LIMIT = 50_000
TOPIC_SAMPLE = 256
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
    matched: str = ""  # the unit of ``text`` that matched best (a question, a bullet, a step), if a unit did


@runtime_checkable
class HubReference(Protocol):
    """Embeddings that know typical queries, to measure how much of a "hub" a passage is (``neutral.py``)."""

    def reference_queries(self) -> np.ndarray: ...


@dataclass
class _Snapshot:
    """What one version of the collection is searched with. Never changed once serving: the next version is a new
    snapshot, built whole (``HybridRetriever.load``) or from this one and the changed documents
    (``HybridRetriever.update``), then swapped in."""

    collection: str
    chunks: list[StoredChunk] = field(default_factory=list)  # in ``_order_key`` order, however the snapshot was built
    lexical: LexicalIndex | None = None
    languages: np.ndarray | None = None
    hubness: dict[str, float] = field(default_factory=dict)
    vectors: np.ndarray | None = None  # row i is chunks[i]'s stored vector
    rows: dict[str, int] = field(default_factory=dict)
    # A metadata field's values as an array, row i for chunks[i]: filters mask BM25 in microseconds, not a Python
    # loop over every chunk (built once per field and snapshot, and carried over to the next by ``update``).
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    parents: dict[str, StoredChunk] = field(default_factory=dict)  # a unit's id -> its section
    # The lexical index holds the sections only: slot -> row of ``chunks`` (-1: a removed section's dead slot) and
    # row -> slot (-1: a unit).
    lexical_rows: np.ndarray | None = None
    slots: np.ndarray | None = None
    hub_scores: np.ndarray | None = None  # ``hubness`` as a column (``hub_column``)
    topic_index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # ``topic_groups``
    topic_sample: tuple[np.ndarray, np.ndarray] | None = None  # ``sampled_topics``

    def field_values(self, key: str) -> np.ndarray:
        values = self.fields.get(key)
        if values is None:
            values = _column(self.chunks, key)
            self.fields[key] = values
        return values

    def hub_column(self) -> np.ndarray:
        """Row i: chunks[i]'s hub score (0 when unknown), built once per snapshot."""
        if self.hub_scores is None:
            self.hub_scores = np.array([self.hubness.get(c.id, 0.0) for c in self.chunks], dtype=np.float32)
        return self.hub_scores

    def topic_groups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row i's topic as a number, the rows in topic order and where each topic starts in it (built once per
        snapshot: a several-line query pools its lines' scores per topic with them)."""
        if self.topic_index is None:
            _, codes = np.unique(self.topics(), return_inverse=True)
            order = np.argsort(codes, kind="stable")
            starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
            self.topic_index = (codes.astype(np.int64), order, starts)
        return self.topic_index

    def sampled_topics(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``size`` topics drawn once per snapshot (seeded), grouped by topic, and where each group
        starts: a line's mean over topics, estimated without scanning every chunk."""
        if self.topic_sample is None:
            _, order, starts = self.topic_groups()
            ends = np.r_[starts[1:], len(order)]
            drawn = np.sort(np.random.default_rng(0).permutation(len(starts))[:size])
            rows = np.concatenate([order[starts[t] : ends[t]] for t in drawn])
            self.topic_sample = (rows, np.r_[0, np.cumsum(ends[drawn] - starts[drawn])[:-1]])
        return self.topic_sample

    def topics(self) -> np.ndarray:
        """Row i: chunks[i]'s topic (its document id when the chunk carries none: indexed before topics were)."""
        topics = self.field_values("topic")
        documents = self.field_values("document_id")
        return np.where(topics == "", documents, topics)

    def holding_any(self, key: str, tags: tuple[str, ...]) -> np.ndarray:
        """Row i: whether chunks[i]'s list field ``key`` (a document's scope tags) holds one of ``tags``; no tags:
        no chunk. One cached boolean column per tag."""
        mask = np.zeros(len(self.chunks), dtype=bool)
        for tag in tags:
            mask |= self.field_values(f"{key}{_TAG}{tag}")
        return mask


_TAG = "\0"  # a cached column "scope\0beta": whether the chunk's list field ``scope`` holds ``beta``


def _column(chunks: list[StoredChunk], key: str) -> np.ndarray:
    """A cached column of ``_Snapshot.fields`` for ``chunks``: a field's values, or whether a list field holds a tag."""
    name, _, tag = key.partition(_TAG)
    if tag:
        return np.array([tag in _tags(c.metadata.get(name)) for c in chunks], dtype=bool)
    return np.array([str(c.metadata.get(key, "")) for c in chunks], dtype=object)


def _order_key(chunk: StoredChunk) -> tuple[str, str]:
    """Snapshots hold chunks in this order, whatever order Chroma answered in: a snapshot updated in place and one
    loaded whole are the same arrays, so equal scores fall the same way in both."""
    return str(chunk.metadata.get("document_id", "")), chunk.id


class HybridRetriever:
    """Searches the serving collection; ``load`` and ``update`` swap in its next snapshot atomically (the old one
    serves until then)."""

    def __init__(
        self, store: ChromaStore, *, weights: FusionWeights | None = None, scan_limit: int = SCAN_LIMIT
    ) -> None:
        self.store = store
        self.weights = weights or FusionWeights()
        self.scan_limit = scan_limit
        self._snap = _Snapshot(collection="")
        self._lock = threading.Lock()
        self._building = threading.Lock()  # one snapshot built at a time: an update starts from the last one
        self.unavailable = ""  # why Chroma could not answer the last dense search ("": it did)
        self._retry_at = 0.0

    @property
    def collection(self) -> str:
        return self._snap.collection

    def section_vectors(self, collection: str) -> list[StoredChunk] | None:
        """The serving snapshot's section chunks (units left out) with their stored vectors, when it serves
        ``collection`` (None otherwise): what the index holds, without reading Chroma."""
        snap = self._snap
        if snap.collection != collection or snap.vectors is None:
            return None
        return [
            StoredChunk(c.id, c.text, c.metadata, embedding=snap.vectors[i])
            for i, c in enumerate(snap.chunks)
            if not is_unit(c.metadata)
        ]

    def load(self, collection: str) -> None:
        """Read the whole of ``collection`` and make it the one searched."""
        with self._building:
            self._swap(self._full(collection))

    def update(self, collection: str, document_ids: Iterable[str]) -> None:
        """Make the documents ``document_ids`` searched as ``collection`` holds them now (changed, added, deleted),
        reading only their chunks; the rest of the snapshot is carried over. The same snapshot as ``load`` would
        build. A snapshot of another collection (or one without vectors) is loaded whole instead."""
        with self._building:
            old = self._snap
            if old.collection != collection or old.vectors is None or old.lexical is None or old.slots is None:
                self._swap(self._full(collection))
                return
            ids = sorted(set(document_ids))
            if not ids:
                return
            fresh = self.store.chunks_of(collection, ids, with_embeddings=True)
            if any(c.embedding is None for c in fresh):
                self._swap(self._full(collection))
                return
            self._swap(self._changed(old, set(ids), fresh))

    def _swap(self, snap: _Snapshot) -> None:
        with self._lock:
            self._snap = snap

    def _full(self, collection: str) -> _Snapshot:
        chunks = sorted(self.store.all_chunks(collection, with_embeddings=True), key=_order_key)
        langs = [_language(c) for c in chunks]
        vectors = [c.embedding for c in chunks if c.embedding is not None]
        # BM25 indexes the sections only (units are searched densely): on units it found the right list less often,
        # and their words are their sections' words.
        sections = np.array([not is_unit(c.metadata) for c in chunks], dtype=bool)
        rows = np.flatnonzero(sections)
        lexical = LexicalIndex([chunks[i].text for i in rows], [langs[i] for i in rows])
        snap = _Snapshot(collection, chunks, lexical, np.array(langs), self._hubness(chunks))
        snap.lexical_rows = rows
        snap.slots = np.full(len(chunks), -1, dtype=np.int64)
        snap.slots[rows] = np.arange(len(rows))
        if chunks and len(vectors) == len(chunks):
            # Kept as one matrix (1.5 KB a chunk) so that a BM25-only find is scored without asking Chroma.
            snap.vectors = np.vstack(vectors).astype(np.float32)
            snap.rows = {c.id: i for i, c in enumerate(chunks)}
        for chunk in chunks:
            chunk.embedding = None
        snap.parents = _parents(chunks)
        return snap

    def _changed(self, old: _Snapshot, ids: set[str], fresh: list[StoredChunk]) -> _Snapshot:
        """``old`` with the chunks of the documents ``ids`` replaced by ``fresh`` (their chunks now, with vectors)."""
        assert old.vectors is not None and old.languages is not None
        documents = old.field_values("document_id")
        gone = np.fromiter((d in ids for d in documents), dtype=bool, count=len(old.chunks))
        fresh = sorted(fresh, key=_order_key)
        # New row i comes from old row src[i], or from fresh[-1 - src[i]] where src[i] < 0: the fresh documents go
        # where their ids sort among the kept ones (``_order_key`` order without sorting everything again).
        keep = np.flatnonzero(~gone)
        at = np.searchsorted(documents[keep], np.array([_order_key(c)[0] for c in fresh], dtype=object))
        src = np.insert(keep, at, -1 - np.arange(len(fresh)))
        chunks = [old.chunks[i] if i >= 0 else fresh[-1 - i] for i in src.tolist()]
        snap = _Snapshot(old.collection, chunks)
        added = [c.embedding for c in fresh if c.embedding is not None]
        snap.vectors = _merged(old.vectors, np.array(added, dtype=np.float32).reshape(-1, old.vectors.shape[1]), src)
        snap.rows = dict(zip([c.id for c in chunks], range(len(chunks)), strict=True))
        snap.languages = _merged(old.languages, np.array([_language(c) for c in fresh]), src)
        removed = {old.chunks[i].id for i in np.flatnonzero(gone)}
        # A chunk's hub score is its own vector against fixed reference queries: the kept ones stay valid.
        snap.hubness = {cid: h for cid, h in old.hubness.items() if cid not in removed} | self._hubness(fresh)
        snap.parents = {u: p for u, p in old.parents.items() if u not in removed} | _parents(fresh)
        for key, column in list(old.fields.items()):  # a search may be caching another column meanwhile
            snap.fields[key] = _merged(column, _column(fresh, key), src)
        snap.lexical, snap.slots, snap.lexical_rows = _lexical_changed(old, gone, fresh, src)
        for chunk in fresh:
            chunk.embedding = None
        return snap

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
        lines = query_lines(query)
        pooled = len(lines) > 1 and snap.vectors is not None
        # Each line embedded once (a cold cache would otherwise embed them for the whole query and again per line).
        line_vectors = embed_queries_array(self.store.embeddings, lines) if pooled else None
        if query_vector is not None:
            qvec = query_vector
        elif line_vectors is not None:
            qvec = combine_turns(lines, line_vectors)
        else:
            qvec = embed_turns(self.store.embeddings, query)
        n = max(self.weights.candidates, k)
        depth = n * UNIT_DEPTH if snap.parents else n
        matched: dict[str, str] = {}
        if line_vectors is not None:
            dense = self._dense_by_topic(snap, line_vectors, qvec, k=depth, filters=filters, matched=matched)[:n]
        else:
            dense = self._rerank_dense(snap, self._dense(snap, qvec, k=depth, filters=filters))
            dense = self._fold_dense(snap, dense, qvec, matched)[:n]
        lexical = self._lexical(snap, query, language=language, k=n, filters=filters or {})
        hits = self._fuse(snap, dense, lexical, qvec, k=k, language=language)
        for hit in hits:
            hit.matched = matched.get(hit.chunk_id, "")
        return hits

    def recheck(self) -> str:
        """``unavailable``, asking Chroma again first if it was unreachable and its retry period has passed (so the
        state clears once it is back even when no search has asked it since)."""
        if self.unavailable and time.monotonic() >= self._retry_at:
            try:
                self.store.heartbeat()
            except StoreUnavailable as exc:
                self.unavailable, self._retry_at = exc.message, time.monotonic() + STORE_RETRY_S
            else:
                self.unavailable = ""
        return self.unavailable

    def _dense(self, snap: _Snapshot, qvec: np.ndarray, *, k: int, filters: Filters | None) -> list[StoredChunk]:
        """The ``k`` nearest chunks from Chroma; while it cannot be reached, or no longer holds the collection this
        process serves, from the snapshot's own vectors (what this process last loaded: exact cosine, the same
        filters), and ``unavailable`` says why when Chroma cannot be reached."""
        found = self._ask_chroma(snap, lambda: self.store.query(snap.collection, qvec, k=k, where=_where(filters)))
        if found is not None:
            return found
        return [] if snap.vectors is None else _nearest_in_memory(snap, qvec, k=k, filters=filters)

    def _ask_chroma(self, snap: _Snapshot, ask: Callable[[], T]) -> T | None:
        """``ask``'s answer, or None where this process answers from its snapshot's vectors instead: while Chroma
        cannot be reached (``unavailable`` says why; asked again after ``STORE_RETRY_S``), or when it no longer holds
        the collection this process serves (a full re-index retired it: the process is loading the new one, or the
        retired one's grace ran out first). A snapshot without vectors has nothing else: Chroma is always asked and
        its failure raised."""
        if time.monotonic() < self._retry_at and snap.vectors is not None:
            return None
        try:
            found = ask()
        except CollectionGone:
            return None
        except StoreUnavailable as exc:
            if snap.vectors is None:
                raise
            self.unavailable, self._retry_at = exc.message, time.monotonic() + STORE_RETRY_S
            return None
        self.unavailable = ""
        return found

    def _dense_by_topic(
        self,
        snap: _Snapshot,
        queries: np.ndarray,
        qvec: np.ndarray,
        *,
        k: int,
        filters: Filters | None,
        matched: dict[str, str],
    ) -> list[StoredChunk]:
        """The dense ranking of a query of several lines (``queries``: their vectors), from the snapshot's vectors:
        topics by the evidence of every line (the hub-corrected score of the topic's best chunk for that line, above
        the line's mean over topics, weighted by how far the line's best topic stands out), each topic's chunks by
        their mean score over the lines; folded onto sections. A section's distance is from ``qvec`` (the whole query), as on the
        one-line path, so relevance and the gaps report read it as before.

        Chosen on the development split of the steps set (docs/evaluation.md, "Next steps"), dense half alone: a
        conversation's top topic was right 0.73 with the lines' vectors averaged, 0.83 with each line's best chunk
        per topic summed, 0.85 with lines weighted as here; pooled per document instead of per topic, 0.81."""
        assert snap.vectors is not None
        mask = _mask(snap, filters)
        rows = None if mask.all() else np.flatnonzero(mask)  # None: every chunk, without copying the matrix
        centre: np.ndarray | None = None
        if (len(mask) if rows is None else len(rows)) > self.scan_limit:
            near = self._nearest_rows(snap, queries, k=k, filters=filters)
            if near is not None and len(near):  # none this snapshot holds (it lags the collection): the scan
                rows = near[mask[near]]
                # Each line's mean over topics, as the scan takes it over every topic, from a sample of them: over the
                # candidates' topics alone (all of them close to some line) it would sit far too high.
                sample, starts = snap.sampled_topics(TOPIC_SAMPLE)
                sampled = snap.vectors[sample] @ queries.T - self.weights.hub_penalty * snap.hub_column()[sample, None]
                centre = np.maximum.reduceat(sampled, starts, axis=0).mean(axis=0)
        if rows is not None and not len(rows):
            return []
        vectors, hub = (
            (snap.vectors, snap.hub_column()) if rows is None else (snap.vectors[rows], snap.hub_column()[rows])
        )
        scores = vectors @ queries.T - self.weights.hub_penalty * hub[:, None]
        codes, order, starts = snap.topic_groups()
        if rows is None:
            best = np.maximum.reduceat(scores[order], starts, axis=0)  # topic x line
            topic_of_row = codes
        else:
            _, topic_of_row = np.unique(codes[rows], return_inverse=True)
            best = np.full((int(topic_of_row.max()) + 1, len(queries)), -np.inf, dtype=np.float32)
            np.maximum.at(best, topic_of_row, scores)
        # Each line's topic scores, centred on their mean and weighted by how far its best topic stands out: a vague
        # line ("what can I do?") is close to every topic, and in the customer's language closer still.
        centre = best.mean(axis=0) if centre is None else centre
        evidence = ((best - centre) * (best.max(axis=0) - centre)).sum(axis=1)
        rank = np.empty(len(evidence), dtype=np.int64)
        rank[np.argsort(-evidence, kind="stable")] = np.arange(len(evidence))
        topic_rank = rank[topic_of_row]
        own = scores.mean(axis=1)
        # Topics by evidence, each topic's chunks by their own score: the k first without sorting every chunk (own
        # lies within [-2, 1], so a topic's place outweighs it).
        key = topic_rank * 4.0 - own
        n = min(k, len(key))
        candidates = np.argpartition(key, n - 1)[:n] if n < len(key) else np.arange(len(key))
        top = candidates[np.lexsort((-own[candidates], topic_rank[candidates]))]
        picked = top if rows is None else rows[top]
        cosines = snap.vectors[picked] @ qvec.astype(np.float32)
        ranked = [_with_distance(snap.chunks[int(i)], 1.0 - float(c)) for i, c in zip(picked, cosines, strict=True)]
        return _fold(snap, ranked, matched)

    def _nearest_rows(
        self, snap: _Snapshot, queries: np.ndarray, *, k: int, filters: Filters | None
    ) -> np.ndarray | None:
        """The snapshot rows of each line's ``k`` nearest chunks (Chroma's index), sorted; None when Chroma cannot
        answer (the caller scans every chunk, as dense search reads the snapshot's vectors then)."""
        found = self._ask_chroma(
            snap, lambda: self.store.nearest_ids(snap.collection, queries, k=k, where=_where(filters))
        )
        if found is None:
            return None
        rows = {snap.rows[cid] for ids in found for cid in ids if cid in snap.rows}
        return np.array(sorted(rows), dtype=np.int64)

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

    def _fold_dense(
        self, snap: _Snapshot, dense: list[StoredChunk], qvec: np.ndarray, matched: dict[str, str]
    ) -> list[StoredChunk]:
        """Dense candidates folded onto sections, each scored by the mean of its own score and its best member's.

        A section's best unit alone ranked a 10-question list worse than the section did on Banking77 development
        (recall@1 0.775 against 0.768 for sections, 0.799 for the mean; all examples: 0.873, 0.816, 0.875). The
        section's own cosine comes from the vectors in memory when only its units were among the candidates.
        """
        if not snap.parents or snap.vectors is None:
            return _fold(snap, dense, matched)
        penalty = self.weights.hub_penalty
        best: dict[str, tuple[float, float]] = {}  # section id -> (best adjusted score, its cosine)
        for chunk in dense:
            parent = snap.parents.get(chunk.id, chunk)
            cosine = 1.0 - chunk.distance
            adjusted = cosine - penalty * snap.hubness.get(chunk.id, 0.0)
            if parent.id not in best or adjusted > best[parent.id][0]:
                best[parent.id] = (adjusted, cosine)
        folded = _fold(snap, dense, matched)
        scored = []
        for section in folded:
            row = snap.rows.get(section.id)
            own = float(snap.vectors[row] @ qvec) if row is not None else 1.0 - section.distance
            own_adjusted = own - penalty * snap.hubness.get(section.id, 0.0)
            top_adjusted, top_cosine = best[section.id]
            mixed = StoredChunk(section.id, section.text, section.metadata, distance=1.0 - (own + top_cosine) / 2)
            scored.append(((own_adjusted + top_adjusted) / 2, mixed))
        scored.sort(key=lambda pair: -pair[0])
        return [chunk for _, chunk in scored]

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
        rows = snap.lexical_rows if snap.lexical_rows is not None else np.arange(len(snap.chunks))
        # Among equal scores the earlier chunk comes first (``order``): the same in an updated and a loaded snapshot.
        hits = snap.lexical.search(query, language=language, k=k, mask=mask[rows] & (rows >= 0), order=rows)
        return [snap.chunks[int(rows[h.index])] for h in hits]

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


def _lexical_changed(
    old: _Snapshot, gone: np.ndarray, fresh: list[StoredChunk], src: np.ndarray
) -> tuple[LexicalIndex, np.ndarray, np.ndarray]:
    """``old``'s lexical index without the sections of the rows ``gone`` and with ``fresh``'s sections, and the new
    snapshot's row -> slot and slot -> row arrays (``src``: where each new row comes from, as in ``_merged``)."""
    assert old.lexical is not None and old.slots is not None
    sections = [c for c in fresh if not is_unit(c.metadata)]
    dead = old.slots[gone]
    lexical, new_slots, moved = old.lexical.changed(
        removed=dead[dead >= 0], texts=[c.text for c in sections], languages=[_language(c) for c in sections]
    )
    old_slots = old.slots.copy()  # renumbered where compaction moved them
    held = old_slots >= 0
    old_slots[held] = moved[old_slots[held]]
    fresh_slots = np.full(len(fresh), -1, dtype=np.int64)
    fresh_slots[[i for i, c in enumerate(fresh) if not is_unit(c.metadata)]] = new_slots
    slots = _merged(old_slots, fresh_slots, src)
    rows = np.full(lexical.slots, -1, dtype=np.int64)
    rows[slots[slots >= 0]] = np.flatnonzero(slots >= 0)
    return lexical, slots, rows


def _merged(old: np.ndarray, fresh: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Row i is ``old[src[i]]``, or ``fresh[-1 - src[i]]`` where ``src[i] < 0`` (one copy of each row)."""
    from_old = src >= 0
    out = np.empty((len(src), *old.shape[1:]), dtype=np.result_type(old, fresh))
    out[from_old] = old[src[from_old]]
    out[~from_old] = fresh[-1 - src[~from_old]]
    return out


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


def _parents(chunks: list[StoredChunk]) -> dict[str, StoredChunk]:
    """Each unit's section chunk (the chunk of the same document at the unit's ``parent`` position)."""
    sections = {
        (str(c.metadata.get("document_id", "")), int(c.metadata.get("position", 0) or 0)): c
        for c in chunks
        if not is_unit(c.metadata)
    }
    parents = {}
    for chunk in chunks:
        if is_unit(chunk.metadata):
            parent = sections.get((str(chunk.metadata.get("document_id", "")), int(chunk.metadata[PARENT] or 0)))
            if parent is not None:
                parents[chunk.id] = parent
    return parents


def _fold(snap: _Snapshot, ranked: list[StoredChunk], matched: dict[str, str]) -> list[StoredChunk]:
    """``ranked`` with each unit replaced by its section, each section once, at the place of its best member.

    A section first reached through a unit records that unit's text in ``matched``; it keeps the unit's distance.
    A unit this snapshot does not know (a Chroma server answering for chunks written since the last load) stands for
    its section, still once per section.
    """
    out: list[StoredChunk] = []
    seen: set[tuple[str, int]] = set()
    for chunk in ranked:
        parent = snap.parents.get(chunk.id)
        key = _section_key(parent or chunk)
        if key in seen:
            continue
        seen.add(key)
        if parent is not None:
            matched.setdefault(parent.id, chunk_body(chunk.text))
            chunk = StoredChunk(id=parent.id, text=parent.text, metadata=parent.metadata, distance=chunk.distance)
        out.append(chunk)
    return out


def _section_key(chunk: StoredChunk) -> tuple[str, int]:
    """The document and the position of the section a chunk is, or belongs to (a unit)."""
    meta = chunk.metadata
    position = meta[PARENT] if is_unit(meta) else meta.get("position", 0)
    return str(meta.get("document_id", "")), int(position or 0)


def _language(chunk: StoredChunk) -> str:
    return str(chunk.metadata.get("language", ""))


def _mask(snap: _Snapshot, filters: Filters | None) -> np.ndarray:
    """Row i: whether chunks[i] passes ``filters``, as ``_where`` gives them to Chroma."""
    keep = np.ones(len(snap.chunks), dtype=bool)
    for key, value in (filters or {}).items():
        if isinstance(value, tuple):
            keep &= snap.holding_any(key, value)
        elif value:
            keep &= snap.field_values(key) == value
    return keep


def _nearest_in_memory(snap: _Snapshot, qvec: np.ndarray, *, k: int, filters: Filters | None) -> list[StoredChunk]:
    """What ``ChromaStore.query`` answers, from the snapshot's vectors: the ``k`` chunks nearest ``qvec`` (cosine)
    among those the filters keep, as ``_where`` gives them to Chroma."""
    assert snap.vectors is not None
    rows = np.flatnonzero(_mask(snap, filters))
    cosines = snap.vectors[rows] @ qvec.astype(np.float32)
    best = np.argsort(-cosines, kind="stable")[:k]
    return [_with_distance(snap.chunks[int(rows[i])], 1.0 - float(cosines[i])) for i in best]


def _with_distance(chunk: StoredChunk, distance: float) -> StoredChunk:
    return StoredChunk(id=chunk.id, text=chunk.text, metadata=chunk.metadata, distance=distance)


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
