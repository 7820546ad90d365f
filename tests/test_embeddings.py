"""kb_index/embeddings.py: the bundled e5 model, an OpenAI-compatible embeddings endpoint (tests/fake_llm.py serves
``/v1/embeddings`` too), the query cache and per-turn query vectors, and the sentence vectors of the tone check."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
from langchain_core.embeddings import Embeddings

from kb_index.embeddings import (
    E5Embeddings,
    OpenAICompatibleEmbeddings,
    QueryCache,
    SentenceVectors,
    embed_queries_array,
    embed_query_array,
    embed_turns,
)
from kb_index.neutral import shipped_subspace
from tests.fake_llm import FakeLLM, Reply, Request

DIMENSIONS = 384


def unit_norms(vectors: np.ndarray) -> np.ndarray:
    return np.asarray(np.linalg.norm(vectors, axis=-1))


# --- the bundled e5 model ------------------------------------------------------------------------------------


def test_passages_are_384_unit_vectors_in_input_order_across_batches() -> None:
    e5 = E5Embeddings(query_cache=0)
    texts = [f"Step {i}: restart the router number {i} and wait {i} minutes." for i in range(17)]  # two batches of 16
    together = e5.embed_passages_array(texts)
    assert together.shape == (17, DIMENSIONS) and np.allclose(unit_norms(together), 1.0, atol=1e-5)
    for i in (0, 15, 16):
        assert np.allclose(together[i], e5.embed_passages_array([texts[i]])[0], atol=1e-5), i
    assert np.allclose(np.asarray(e5.embed_documents(texts[:2])), together[:2], atol=1e-6)


def test_no_passages_is_an_empty_matrix() -> None:
    assert E5Embeddings().embed_passages_array([]).shape == (0, DIMENSIONS)


def test_a_query_is_embedded_as_a_query_not_as_a_passage() -> None:
    e5 = E5Embeddings(query_cache=0)
    text = "Where is my parcel?"
    query, passage = e5.embed_query_array(text), e5.embed_passages_array([text])[0]
    assert query.shape == (DIMENSIONS,) and abs(float(np.linalg.norm(query)) - 1.0) < 1e-5
    assert not np.allclose(query, passage, atol=1e-3)  # e5 reads "query: " and "passage: " differently
    assert np.allclose(np.asarray(e5.embed_query(text)), query, atol=1e-6)


def test_the_model_is_multilingual() -> None:
    e5 = E5Embeddings(query_cache=0)
    query = e5.embed_query_array("My parcel is late")
    italian, unrelated = e5.embed_passages_array(["Il mio pacco è in ritardo", "Reset your password in settings"])
    assert float(query @ italian) > float(query @ unrelated)


def test_queries_are_cached_and_a_copy_is_handed_out() -> None:
    e5 = E5Embeddings(query_cache=4)
    for _ in range(2):
        e5.embed_query_array("refund please")[:] = 0.0  # what a caller does with its vector stays with it
    again = e5.embed_query_array("refund please")
    assert (e5.queries.hits, e5.queries.misses) == (2, 1) and abs(float(np.linalg.norm(again)) - 1.0) < 1e-5


# --- an OpenAI-compatible embeddings endpoint -----------------------------------------------------------------

VECTORS = {"refund": [3.0, 4.0, 0.0], "parcel": [0.0, 0.0, 2.0]}


def embeddings_endpoint(request: Request) -> Reply:
    """``POST /v1/embeddings``: a fixed vector per known text."""
    data = [{"object": "embedding", "index": i, "embedding": VECTORS[t]} for i, t in enumerate(request["input"])]
    usage = {"prompt_tokens": len(data), "total_tokens": len(data)}
    body = {"object": "list", "data": data, "model": request["model"], "usage": usage}
    return Reply(raw=json.dumps(body))


def test_an_endpoint_gives_its_vectors_and_queries_are_normalised_and_cached(fake: FakeLLM) -> None:
    fake.behave = embeddings_endpoint
    remote = OpenAICompatibleEmbeddings(base_url=fake.url, model="embed-fake", api_key="test-key")
    assert remote.name == "openai:embed-fake"
    assert remote.embed_documents(["refund", "parcel"]) == [VECTORS["refund"], VECTORS["parcel"]]
    assert fake.requests[0]["model"] == "embed-fake" and fake.requests[0]["input"] == ["refund", "parcel"]
    assert np.allclose(remote.embed_query_array("refund"), [0.6, 0.8, 0.0])
    assert np.allclose(remote.embed_query_array("refund"), [0.6, 0.8, 0.0])
    assert len(fake.requests) == 2  # the second query came from the cache
    assert remote.embed_query("parcel") == VECTORS["parcel"]  # LangChain's interface: as the endpoint said


def test_several_queries_are_one_request_for_those_not_cached(fake: FakeLLM) -> None:
    fake.behave = embeddings_endpoint
    remote = OpenAICompatibleEmbeddings(base_url=fake.url, model="embed-fake", api_key="test-key")
    remote.embed_query_array("refund")
    rows = remote.embed_queries_array(["parcel", "refund", "parcel"])
    assert [r["input"] for r in fake.requests] == [["refund"], ["parcel"]]  # "refund" cached, "parcel" asked once
    assert np.allclose(rows[1], [0.6, 0.8, 0.0]) and np.allclose(rows[0], rows[2])
    assert np.allclose(unit_norms(rows), 1.0)


class FixedEmbeddings(Embeddings):
    """Any LangChain embedder without ``embed_query_array``."""

    def __init__(self, vector: list[float]) -> None:
        self.vector = vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.vector for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.vector


def test_any_embedder_gives_a_normalised_float32_query_vector() -> None:
    vector = embed_query_array(FixedEmbeddings([3.0, 0.0, 4.0]), "anything")
    assert vector.dtype == np.float32 and np.allclose(vector, [0.6, 0.0, 0.8])
    assert np.array_equal(embed_query_array(FixedEmbeddings([0.0, 0.0]), "anything"), [0.0, 0.0])  # not NaN


# --- the query cache and per-turn query vectors -------------------------------------------------------------


def test_the_cache_computes_each_text_once_and_drops_the_least_recently_used() -> None:
    calls: list[str] = []

    def compute(text: str) -> np.ndarray:
        calls.append(text)
        return np.full(3, float(len(calls)), dtype=np.float32)

    cache = QueryCache(size=2)
    first = cache.get("a", compute)
    first[0] = 99.0  # a caller changing its copy does not change the cache
    assert cache.get("a", compute)[0] == 1.0
    cache.get("b", compute)
    cache.get("a", compute)  # "a" is now the most recent
    cache.get("c", compute)  # drops "b"
    cache.get("b", compute)
    assert calls == ["a", "b", "c", "b"]
    assert (cache.hits, cache.misses) == (2, 4)


def zeros_counted(calls: list[str]) -> Callable[[str], np.ndarray]:
    """A vector computation that notes each text it is asked for."""

    def compute(text: str) -> np.ndarray:
        calls.append(text)
        return np.zeros(2, dtype=np.float32)

    return compute


def test_a_batch_of_queries_is_what_one_query_at_a_time_gives_and_fills_the_same_cache() -> None:
    model = E5Embeddings()
    texts = ["Where is my parcel?", "Il pacco non è arrivato.", "Where is my parcel?", "Nie dostałem zwrotu."]
    one_by_one = np.vstack([E5Embeddings().embed_query_array(t) for t in texts])
    batch = model.embed_queries_array(texts)
    assert batch.shape == (4, DIMENSIONS) and batch.dtype == np.float32
    assert np.all((batch * one_by_one).sum(axis=1) > 0.9999)
    assert (model.queries.misses, model.queries.hits) == (3, 0)  # three distinct texts, embedded together
    model.embed_query_array("Nie dostałem zwrotu.")
    assert model.queries.hits == 1  # the batch filled the cache the single path reads
    plain = FixedEmbeddings([3.0, 0.0, 4.0])  # an embedder with no batch: one at a time, normalised
    assert np.allclose(embed_queries_array(plain, ["a", "b"]), [[0.6, 0.0, 0.8]] * 2)
    assert embed_queries_array(model, []).shape == (0, DIMENSIONS)


def test_the_cache_computes_the_missing_texts_of_a_batch_in_one_call() -> None:
    cache = QueryCache(size=3)
    calls: list[list[str]] = []

    def compute(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return np.array([[float(len(t)), 1.0] for t in texts])

    cache.get("aa", lambda t: np.array([9.0, 9.0]))
    rows = cache.get_many(["b", "aa", "ccc", "b"], compute)
    assert calls == [["b", "ccc"]]
    assert rows.tolist() == [[1.0, 1.0], [9.0, 9.0], [3.0, 1.0], [1.0, 1.0]]
    assert cache.get_many(["ccc"], compute).tolist() == [[3.0, 1.0]] and len(calls) == 1
    cache.get_many(["d", "e"], compute)  # size 3: the least recently used ("aa", then "b") drop
    assert cache.get_many(["aa"], compute).tolist() == [[2.0, 1.0]] and calls[-1] == ["aa"]


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache = QueryCache(size=0)
    calls: list[str] = []
    for _ in range(3):
        cache.get("a", zeros_counted(calls))
    assert len(calls) == 3


def test_a_cleared_cache_computes_again() -> None:
    cache = QueryCache(size=4)
    calls: list[str] = []
    cache.get("a", zeros_counted(calls))
    cache.clear()
    cache.get("a", zeros_counted(calls))
    assert calls == ["a", "a"] and cache.misses == 2


def test_a_new_customer_turn_embeds_only_that_turn() -> None:
    e5 = E5Embeddings(query_cache=16)
    earlier = "My parcel was due on Monday and it has not arrived."
    new = "The tracking has not moved for a week, where is it?"
    embed_turns(e5, earlier)
    misses = e5.queries.misses
    combined = embed_turns(e5, f"{earlier}\n{new}")
    assert e5.queries.misses == misses + 1  # the new turn only
    assert abs(float(np.linalg.norm(combined)) - 1.0) < 1e-5
    # Closer to the newer turn (it weighs more) and close to embedding both turns at once.
    a, b = embed_query_array(e5, earlier), embed_query_array(e5, new)
    assert float(combined @ b) > float(combined @ a)
    together = E5Embeddings(query_cache=0).embed_query_array(f"{earlier}\n{new}")
    assert float(combined @ together) > 0.9


def test_a_single_line_query_is_embedded_as_it_is() -> None:
    e5 = E5Embeddings(query_cache=0)
    text = "How do I cancel my subscription?"
    assert np.allclose(embed_turns(e5, text), e5.embed_query_array(text), atol=1e-6)


# --- sentence vectors for the tone check ------------------------------------------------------------------------


def test_sentence_vectors_are_unit_vectors_without_the_language_identity() -> None:
    sentences = ["Obviously you did not read my message.", "Ovviamente non ha letto il mio messaggio."]
    vectors = SentenceVectors().embed_sentences(sentences)
    assert vectors.shape == (2, DIMENSIONS) and np.allclose(unit_norms(vectors), 1.0, atol=1e-5)
    assert np.abs(vectors @ shipped_subspace().T).max() < 1e-4  # nothing left in the language subspace
    assert np.allclose(SentenceVectors().embed_sentences(sentences[1:])[0], vectors[1], atol=1e-5)


def test_no_sentences_is_an_empty_matrix() -> None:
    assert SentenceVectors().embed_sentences([]).shape == (0, DIMENSIONS)
