"""Language versions of a document found by content, for documents that declare none.

A knowledge base often holds one article in several languages. Versions declared as such (a shared ``topic``, or ids
that differ only by a language suffix) are grouped by ``SourceDocument.topic``. A document that declares neither, and
whose id carries no language suffix ("rimborsi-e-resi" beside "refunds-and-returns"), is "free": it is compared, by
content, with the documents in other languages (the unit mean of its sections' language-neutral e5 vectors, the
vectors the index stores).

Groups are formed over the whole knowledge base at once, so the result does not depend on the order documents
arrived in: starting from the declared topics and each free document alone, two groups merge when each is the
other's nearest group in other languages (the closest pair of their documents), they share no language, at least
one holds only free documents, their closest pair is at least ``THRESHOLD`` alike (and ``MARGIN`` above each one's
next nearest group), and no closer than ``SPREAD`` below the weakest link inside either of them (a version is about
as close to a topic's documents as they are to each other; a neighbouring subject is close, but less); repeated
until nothing merges. A free document then takes its group's topic (the declared
one, else the smallest of its documents' own). It is kept in the document's metadata (``detected_topic``), shown in
the document list, and never overrides a declared topic. Measured in ``docs/evaluation.md`` ("Language versions
found by content", ``evals/versions.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from langchain_core.embeddings import Embeddings

from kb_index.chunking import PARENT, chunk_document
from kb_index.documents import DETECTED_TOPIC, SourceDocument, topic_of, topic_of_id
from kb_index.store import StoredChunk

# Chosen on development only (evals/versions.py): the demo knowledge base with its versions' ids and topics taken
# away, and xSID's development sentences as a list document per intent and language; xSID's knowledge-base
# sentences are the held-out set.
THRESHOLD = 0.92
MARGIN = 0.0
SPREAD = 0.03
# Above this many documents the grouping is not run (its similarity matrix grows with the square: 64 MB here); the
# topics found so far are kept. Measured at 597 documents: 90 ms (docs/benchmarks.md).
MAX_DOCUMENTS = 4_000
NONE = -2.0  # below any cosine: no group there (a lone candidate stands out by the whole margin)


@dataclass(frozen=True)
class Profile:
    """A document as the grouping sees it: its language, the topic it has of itself (declared, or from its id),
    whether that topic is fixed (declared, or shared by id with a version in another language) and the unit mean of
    its sections' vectors."""

    document_id: str
    language: str
    topic: str
    vector: np.ndarray
    fixed: bool = False


def own_topic(doc: SourceDocument) -> str:
    """The topic ``doc`` has of itself: declared, else from its id (a topic found before is not its own)."""
    meta = {k: v for k, v in doc.metadata.items() if k != DETECTED_TOPIC}
    return topic_of(meta, doc.id, doc.language)


def free_documents(docs: Iterable[SourceDocument]) -> set[str]:
    """The ids of ``docs`` whose versions are looked for: a known language, no declared topic, an id without a
    language suffix (a team that suffixes its ids has said how its versions are grouped: "account-locked-es" alone is
    a topic with one version), and no document in another language sharing the topic of its id."""
    docs = list(docs)
    languages: dict[str, set[str]] = {}
    for doc in docs:
        languages.setdefault(own_topic(doc), set()).add(doc.language)
    return {
        d.id
        for d in docs
        if d.language
        and not d.declares_topic
        and topic_of_id(d.id, d.language) == d.id
        and languages[own_topic(d)] == {d.language}
    }


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return np.asarray(vector / (norm or 1.0), dtype=np.float32)


def profile_of(doc: SourceDocument, embeddings: Embeddings, *, free: bool) -> Profile:
    """``doc``'s profile, its sections embedded as the index embeds them (units left out)."""
    texts = [c.page_content for c in chunk_document(doc, units=False)] or [doc.title]
    vectors = np.asarray(embeddings.embed_documents(texts), dtype=np.float32)
    return Profile(doc.id, doc.language, own_topic(doc), _unit(vectors.mean(axis=0)), fixed=not free)


def stored_profiles(chunks: Iterable[StoredChunk], docs: Iterable[SourceDocument]) -> list[Profile]:
    """The profiles of ``docs`` (those with a language) from their section chunks' stored vectors."""
    sections: dict[str, list[np.ndarray]] = {}
    for chunk in chunks:
        if chunk.embedding is not None and PARENT not in chunk.metadata:
            sections.setdefault(str(chunk.metadata.get("document_id", "")), []).append(chunk.embedding)
    docs = [d for d in docs if d.language and d.id in sections]
    free = free_documents(docs)
    return [
        Profile(d.id, d.language, own_topic(d), _unit(np.mean(sections[d.id], axis=0)), fixed=d.id not in free)
        for d in docs
    ]


def group_versions(
    profiles: Sequence[Profile], *, threshold: float = THRESHOLD, margin: float = MARGIN, spread: float = SPREAD
) -> dict[str, str]:
    """The topic each free document takes: its group's (see the module's docstring); its own when alone."""
    members: list[list[int]] = []  # each group's documents (indices of ``profiles``)
    by_topic: dict[str, int] = {}
    for i, p in enumerate(profiles):
        if not p.fixed:
            members.append([i])
        elif p.topic in by_topic:
            members[by_topic[p.topic]].append(i)
        else:
            by_topic[p.topic] = len(members)
            members.append([i])
    if len(members) < 2:
        return {profiles[i].document_id: profiles[i].topic for m in members for i in m if not profiles[i].fixed}
    codes = {lang: 1 << k for k, lang in enumerate(sorted({p.language for p in profiles}))}
    langs = np.array([sum({codes[profiles[i].language] for i in m}) for m in members], dtype=np.int64)
    fixed = np.array([any(profiles[i].fixed for i in m) for m in members])
    vectors = np.stack([p.vector for p in profiles])
    docs = vectors @ vectors.T
    near = np.stack([docs[m].max(axis=0) for m in members])  # group x document: its closest member
    near = np.stack([near[:, m].max(axis=1) for m in members], axis=1)  # group x group: the closest pair
    alive = np.ones(len(members), dtype=bool)
    # How close a group's weakest link is (each member to its nearest fellow); none for a document alone.
    formed = np.array([min(max(docs[i, j] for j in m if j != i) for i in m) if len(m) > 1 else NONE for m in members])
    while True:
        allowed = ((langs[:, None] & langs[None, :]) == 0) & ~(fixed[:, None] & fixed[None, :])
        allowed &= alive[:, None] & alive[None, :]
        scores = np.where(allowed, near, NONE)
        top2 = -np.sort(-scores, axis=1)[:, :2]
        best, stand_out = scores.argmax(axis=1), top2[:, 0] - top2[:, 1]
        rows = np.arange(len(members))
        ok = alive & (top2[:, 0] >= threshold) & (best[best] == rows) & (best > rows)
        ok &= (stand_out >= margin) & (stand_out[best] >= margin)
        # A version is about as close to a group's documents as they are to each other: a group takes another only
        # within ``spread`` of its own weakest link (a near subject is close, but not that close).
        ok &= top2[:, 0] >= formed - spread
        ok &= (top2[:, 0] >= formed - spread)[best]
        if not ok.any():
            break
        for a in np.flatnonzero(ok):
            b = int(best[a])
            formed[a] = min(v for v in (formed[a], formed[b], near[a, b]) if v > NONE)
            members[a] += members[b]
            langs[a] |= langs[b]
            fixed[a] |= fixed[b]
            near[a] = np.maximum(near[a], near[b])
            near[:, a] = near[a]
            alive[b] = False
    out = {}
    for g in np.flatnonzero(alive):
        group = [profiles[i] for i in members[g]]
        declared = [p.topic for p in group if p.fixed]
        topic = declared[0] if declared else min(p.topic for p in group)
        out.update({p.document_id: topic for p in group if not p.fixed})
    return out


def with_found_version(doc: SourceDocument, topic: str) -> SourceDocument:
    """``doc`` as a version of ``topic`` (kept in its metadata); with its own topic, as nobody's version."""
    meta = {k: v for k, v in doc.metadata.items() if k != DETECTED_TOPIC}
    if topic != own_topic(doc):
        meta[DETECTED_TOPIC] = topic
    return replace(doc, metadata=meta)


def keep_found_version(doc: SourceDocument, stored_hash: str, stored_metadata: dict[str, object]) -> SourceDocument:
    """``doc`` sent again: the version found for it before, when its content is otherwise the same as stored (the
    grouping then changes nothing); a changed document is grouped anew."""
    found = str(stored_metadata.get(DETECTED_TOPIC, "") or "")
    if not found or doc.declares_topic or DETECTED_TOPIC in doc.metadata:
        return doc
    kept = with_found_version(doc, found)
    return kept if kept.content_hash == stored_hash else doc
