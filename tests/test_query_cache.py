"""The query cache and per-turn query vectors: a customer's earlier turns are not embedded again."""

from __future__ import annotations

import numpy as np

from kb_index.embeddings import E5Embeddings, QueryCache, embed_query_array, embed_turns


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


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache = QueryCache(size=0)
    calls = []
    for _ in range(3):
        cache.get("a", lambda t: calls.append(t) or np.zeros(2, dtype=np.float32))
    assert len(calls) == 3


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
