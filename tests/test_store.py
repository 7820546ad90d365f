"""kb_index/store.py: one contract suite, run on embedded Chroma and on a Chroma server (``chroma run`` from the
chromadb package, as with ``TACTFUL_CHROMA_URL``). Vectors come from the bundled e5 model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from langchain_core.embeddings import Embeddings

from kb_index.embeddings import E5Embeddings, embed_query_array
from kb_index.errors import CollectionGone, StoreUnavailable
from kb_index.store import ChromaStore
from tests.conftest import _free_port, auth, index_small_kb, make_settings
from tests.factories import conversation

BACKENDS = ["embedded", "server"]
NAME = "tactful_chunks_contract"
OTHER = "tactful_chunks_other"
WIFI = {"document_id": "wifi", "language": "en", "kind": "procedure"}
RESO = {"document_id": "reso", "language": "it", "kind": "policy"}
CHUNKS = [
    ("wifi#0", "Restart the router and wait two minutes before connecting the thermostat to Wi-Fi again.", WIFI),
    ("wifi#1", "Hold the reset button for 10 seconds to restore the factory settings.", WIFI),
    ("reso#0", "Il reso è possibile entro 30 giorni dalla consegna, con l'etichetta di reso.", RESO),
]
ROUTER_QUESTION = "My thermostat will not connect to the Wi-Fi router"


@dataclass(frozen=True)
class Backend:
    """Where a store keeps its collections: the data dir (embedded) or a server's URL."""

    kind: str
    data_dir: Path
    url: str

    def open(self, embeddings: Embeddings) -> ChromaStore:
        return ChromaStore.open(data_dir=self.data_dir, url=self.url, embeddings=embeddings)


@pytest.fixture(scope="module")
def embeddings() -> E5Embeddings:
    return E5Embeddings()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path, embeddings: E5Embeddings) -> Iterator[Backend]:
    """Each contract test runs on both; the server is started only for the tests that use it."""
    url: str = request.getfixturevalue("chroma_server") if request.param == "server" else ""
    backend = Backend(request.param, tmp_path / "data", url)
    yield backend
    if url:  # the server outlives each test: leave it empty for the next one
        store = backend.open(embeddings)
        for name in store.names():
            store.drop(name)


@pytest.fixture
def store(backend: Backend, embeddings: E5Embeddings) -> ChromaStore:
    return backend.open(embeddings)


def fill(store: ChromaStore, name: str, chunks: list[tuple[str, str, dict[str, str]]] = CHUNKS) -> None:
    """Write ``chunks`` the way the indexer does: through the LangChain vector store, embedded by the store's model."""
    ids, texts, metadatas = zip(*chunks, strict=True)
    store.vector_store(name).add_texts(list(texts), metadatas=list(metadatas), ids=list(ids))


# --- collections ---------------------------------------------------------------------------------------------


def test_a_collection_is_created_empty_on_first_use(store: ChromaStore, embeddings: E5Embeddings) -> None:
    assert store.names() == []
    assert store.count(NAME) == 0 and store.names() == [NAME]
    assert store.query(NAME, embed_query_array(embeddings, ROUTER_QUESTION), k=3) == []
    assert store.all_chunks(NAME) == [] and store.chunk_ids_of(NAME, "wifi") == []
    assert store.embeddings_of(NAME, []) == {}


def test_drop_removes_one_collection_and_leaves_the_others(store: ChromaStore) -> None:
    fill(store, NAME)
    fill(store, OTHER, CHUNKS[:1])
    assert store.names() == sorted([NAME, OTHER])
    store.drop(OTHER)
    assert store.names() == [NAME] and store.count(NAME) == 3
    store.drop("tactful_chunks_never_made")  # nothing to drop: no error
    assert store.names() == [NAME]
    assert store.count(OTHER) == 0  # read again, it comes back empty


def test_a_collection_dropped_elsewhere_is_found_again(backend: Backend, embeddings: E5Embeddings) -> None:
    # The store caches collection handles; another process (a CLI re-index) may drop and re-create one.
    store, other = backend.open(embeddings), backend.open(embeddings)
    fill(store, NAME, CHUNKS[:1])
    before = store.count(NAME)
    assert before > 0
    other.drop(NAME)
    fill(other, NAME)
    assert store.count(NAME) > before
    assert store.chunk_ids_of(NAME, "reso")


def test_a_query_on_a_collection_dropped_elsewhere_is_collection_gone_and_does_not_recreate_it(
    backend: Backend, embeddings: E5Embeddings
) -> None:
    # A full re-index retires the collection a web process still serves: its searches must not bring it back empty.
    store, other = backend.open(embeddings), backend.open(embeddings)
    fill(store, NAME, CHUNKS[:1])
    question = embed_query_array(embeddings, ROUTER_QUESTION)
    assert store.query(NAME, question, k=1)  # the handle is cached now
    other.drop(NAME)
    with pytest.raises(CollectionGone):
        store.query(NAME, question, k=1)
    with pytest.raises(CollectionGone):  # nor with no handle cached
        backend.open(embeddings).query(NAME, question, k=1)
    assert NAME not in store.names()


# --- chunks ---------------------------------------------------------------------------------------------------


def test_written_chunks_are_counted_and_read_back_with_their_vectors(
    store: ChromaStore, embeddings: E5Embeddings
) -> None:
    fill(store, NAME)
    assert store.count(NAME) == 3
    assert sorted(store.chunk_ids_of(NAME, "wifi")) == ["wifi#0", "wifi#1"]
    assert store.chunk_ids_of(NAME, "reso") == ["reso#0"]
    chunks = store.all_chunks(NAME)
    assert sorted((c.id, c.text, c.metadata) for c in chunks) == sorted(CHUNKS)
    assert all(c.embedding is None for c in chunks)
    vectors = embeddings.embed_passages_array([text for _, text, _ in CHUNKS])
    expected = {chunk_id: vector for (chunk_id, _, _), vector in zip(CHUNKS, vectors, strict=True)}
    with_vectors = {c.id: c.embedding for c in store.all_chunks(NAME, with_embeddings=True)}
    stored = store.embeddings_of(NAME, ["reso#0", "wifi#1"])
    assert set(stored) == {"reso#0", "wifi#1"}
    for chunk_id, vector in with_vectors.items():
        assert vector is not None and vector.dtype == np.float32
        assert np.allclose(vector, expected[chunk_id], atol=1e-5), chunk_id
    assert all(np.allclose(stored[i], expected[i], atol=1e-5) for i in stored)


def test_the_nearest_chunks_come_first_by_cosine_distance(store: ChromaStore, embeddings: E5Embeddings) -> None:
    fill(store, NAME)
    question = embed_query_array(embeddings, ROUTER_QUESTION)
    hits = store.query(NAME, question, k=2)
    assert [h.id for h in hits] == ["wifi#0", "wifi#1"]
    assert hits[0].distance <= hits[1].distance
    assert (hits[0].text, hits[0].metadata) == (CHUNKS[0][1], WIFI)
    stored = store.embeddings_of(NAME, ["wifi#0"])["wifi#0"]
    assert hits[0].distance == pytest.approx(1.0 - float(question @ stored), abs=1e-3)  # the collection is cosine


def test_a_query_asking_for_more_than_there_is_gets_all_there_is(store: ChromaStore, embeddings: E5Embeddings) -> None:
    fill(store, NAME)
    hits = store.query(NAME, embed_query_array(embeddings, ROUTER_QUESTION), k=10)
    assert sorted(h.id for h in hits) == ["reso#0", "wifi#0", "wifi#1"]


def test_a_where_filter_restricts_the_query(store: ChromaStore, embeddings: E5Embeddings) -> None:
    fill(store, NAME)
    question = embed_query_array(embeddings, ROUTER_QUESTION)
    assert [h.id for h in store.query(NAME, question, k=3, where={"language": "it"})] == ["reso#0"]
    assert len(store.query(NAME, question, k=3, where={})) == 3  # an empty filter is no filter


def test_nearest_ids_answer_several_queries_in_one_call_as_query_does_each(
    store: ChromaStore, embeddings: E5Embeddings
) -> None:
    fill(store, NAME)
    questions = np.vstack(
        [embed_query_array(embeddings, ROUTER_QUESTION), embed_query_array(embeddings, "Posso restituire il pacco?")]
    )
    assert store.nearest_ids(NAME, questions, k=2) == [[h.id for h in store.query(NAME, q, k=2)] for q in questions]
    assert store.nearest_ids(NAME, questions, k=2, where={"language": "it"}) == [["reso#0"], ["reso#0"]]
    store.drop(NAME)
    with pytest.raises(CollectionGone):
        store.nearest_ids(NAME, questions, k=2)


def test_deleted_chunks_are_gone_from_every_read(store: ChromaStore, embeddings: E5Embeddings) -> None:
    fill(store, NAME)
    store.vector_store(NAME).delete(["wifi#1"])
    assert store.count(NAME) == 2
    assert store.chunk_ids_of(NAME, "wifi") == ["wifi#0"]
    assert sorted(c.id for c in store.all_chunks(NAME)) == ["reso#0", "wifi#0"]
    hits = store.query(NAME, embed_query_array(embeddings, "hold the reset button for 10 seconds"), k=10)
    assert "wifi#1" not in {h.id for h in hits}
    assert store.embeddings_of(NAME, ["wifi#1"]) == {}


def test_all_chunks_reads_a_collection_larger_than_one_page(store: ChromaStore) -> None:
    # Written straight into the collection with small vectors: embedding 2,100 passages would take minutes.
    n = 2100
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(n, 8)).astype(np.float32)
    ids = [f"bulk#{i}" for i in range(n)]
    store.collection(OTHER).add(
        ids=ids,
        embeddings=vectors.tolist(),
        documents=[f"chunk {i}" for i in range(n)],
        metadatas=[{"document_id": f"doc{i % 7}"} for i in range(n)],
    )
    chunks = store.all_chunks(OTHER, with_embeddings=True)
    assert len(chunks) == n == store.count(OTHER) and sorted(c.id for c in chunks) == sorted(ids)
    by_id = {c.id: c for c in chunks}
    assert by_id["bulk#2050"].text == "chunk 2050" and by_id["bulk#2050"].metadata == {"document_id": "doc6"}
    vector = by_id["bulk#2050"].embedding
    assert vector is not None and np.allclose(vector, vectors[2050], atol=1e-6)


# --- opening a store ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_store_that_cannot_be_opened_is_store_unavailable(tmp_path: Path, kind: str) -> None:
    if kind == "embedded":
        (tmp_path / "chroma").write_text("a file where Chroma's directory should be")
        url = ""
    else:
        url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    with pytest.raises(StoreUnavailable, match=url or "embedded"):
        ChromaStore.open(data_dir=tmp_path, url=url, embeddings=E5Embeddings())


def test_the_service_answers_from_the_store_it_is_configured_with(backend: Backend) -> None:
    from api.app import create_app

    settings = make_settings(backend.data_dir, chroma_url=backend.url)
    with TestClient(create_app(settings)) as app:
        container = app.app.state.container  # type: ignore[attr-defined]
        index_small_kb(container)
        # Embedded Chroma lives in the data dir; with a server, nothing is embedded.
        assert (Path(container.settings.data_dir) / "chroma").exists() == (backend.kind == "embedded")
        r = app.post("/v1/assist", json={"conversation": conversation(id="srv")}, headers=auth("agent"))
        assert r.status_code == 200 and r.json()["next_steps"][0]["citations"][0]["document_id"] == "late-parcel-en"
