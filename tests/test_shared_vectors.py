"""Query vectors shared by the web processes through Redis (``api.shared_state.SharedVectors`` behind
``kb_index.embeddings.QueryCache``): one process embeds a sentence, the others read it; Redis away costs nothing
but the embedding. The machine's Redis, each test under its own key prefix."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import redis

from api.container import Container
from api.shared_state import SharedVectors
from kb_index.embeddings import E5Embeddings, QueryCache
from tests.conftest import REDIS_URL, make_settings

DOWN_URL = "redis://127.0.0.1:1/0"


class Model:
    """A stand-in embedder that counts what it is asked (the sharing is what is tested, not the model)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.asked += texts
        rng = [np.random.default_rng(abs(hash(t)) % 2**32) for t in texts]
        vecs = np.vstack([r.standard_normal(384) for r in rng]).astype(np.float32)
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def test_a_vector_one_process_embedded_is_read_by_another_without_embedding(prefix: str) -> None:
    first, second = QueryCache(), QueryCache()  # two web processes' caches
    first.share(SharedVectors(REDIS_URL, prefix=prefix), namespace="e5-small:1")
    second.share(SharedVectors(REDIS_URL, prefix=prefix), namespace="e5-small:1")
    a, b = Model(), Model()
    texts = ["Il pacco non è arrivato.", "Mi hanno addebitato due volte.", "Il pacco non è arrivato."]
    mine = first.get_many(texts, a)
    assert sorted(a.asked) == sorted(set(texts))  # each embedded once, in one batch
    theirs = second.get_many(texts, b)
    assert b.asked == [] and second.shared_hits == 2
    assert np.array_equal(mine, theirs)
    # one new sentence among known ones: only it is embedded, and one at a time (get) reads the tier too
    second.get_many([*texts, "Czy mogę zmienić adres?"], b)
    assert b.asked == ["Czy mogę zmienić adres?"]
    third = QueryCache()
    third.share(SharedVectors(REDIS_URL, prefix=prefix), namespace="e5-small:1")
    c = Model()
    assert np.array_equal(
        third.get("Czy mogę zmienić adres?", lambda t: c([t])[0]), second.get_many(["Czy mogę zmienić adres?"], b)[0]
    )
    assert c.asked == []


def test_another_model_never_reads_these_vectors(prefix: str) -> None:
    e5, other = QueryCache(), QueryCache()
    e5.share(SharedVectors(REDIS_URL, prefix=prefix), namespace="e5-small:1")
    other.share(SharedVectors(REDIS_URL, prefix=prefix), namespace="openai:text-embedding-3-small")
    e5.get_many(["Where is my parcel?"], Model())
    model = Model()
    other.get_many(["Where is my parcel?"], model)
    assert model.asked == ["Where is my parcel?"] and other.shared_hits == 0


def test_with_redis_away_each_process_embeds_its_own_and_does_not_wait_on_it_again(prefix: str) -> None:
    cache = QueryCache()
    cache.share(SharedVectors(DOWN_URL, prefix=prefix), namespace="e5-small:1")
    model = Model()
    out = cache.get_many(["Where is my parcel?", "My card was charged twice."], model)
    assert out.shape == (2, 384) and len(model.asked) == 2
    started = time.perf_counter()
    cache.get_many(["A third sentence, never seen."], model)
    assert time.perf_counter() - started < 0.2 and len(model.asked) == 3  # not asked again while it is down


def test_the_service_shares_its_query_vectors_only_with_redis_configured(tmp_path: Path, prefix: str) -> None:
    with_redis = make_settings(tmp_path / "a", redis_url=REDIS_URL, redis_prefix=prefix, tone_learned_sarcasm=False)
    container = Container.build(with_redis)
    try:
        inner = container.knowledge.retriever.store.embeddings.inner
        assert isinstance(inner, E5Embeddings) and inner.queries.shared is container.shared_vectors is not None
        assert inner.queries.namespace.startswith("e5-small:")
        vec = container.knowledge.retriever.store.embeddings.embed_query_array("Where is my parcel?")
        key = f"{prefix}:vec:{inner.queries.namespace}:" + hashlib.sha1(b"Where is my parcel?").hexdigest()
        stored = redis.Redis.from_url(REDIS_URL).get(key)
        assert stored is not None and np.frombuffer(stored, dtype=np.float32).shape == (384,)
        assert vec.shape == (384,)
    finally:
        container.stop()
    alone = Container.build(make_settings(tmp_path / "b", tone_learned_sarcasm=False))
    try:
        assert alone.shared_vectors is None and alone.knowledge.retriever.store.embeddings.inner.queries.shared is None
    finally:
        alone.stop()


def test_the_tone_checks_sentence_vectors_are_read_from_the_shared_tier_too(prefix: str) -> None:
    from api.container import E5_NAMESPACE
    from kb_index.embeddings import SentenceVectors
    from kb_index.neutral import neutralize, shipped_subspace

    vectors = SentenceVectors()
    vectors.share(SharedVectors(REDIS_URL, prefix=prefix), namespace=E5_NAMESPACE)
    text = "Thank you so much for telling us on the very last day."
    first = vectors.embed_sentences([text])
    key = f"{prefix}:vec:{E5_NAMESPACE}:" + hashlib.sha1(text.encode()).hexdigest()
    client = redis.Redis.from_url(REDIS_URL)
    assert client.get(key) is not None  # embedded here, shared for the others
    planted = np.zeros(384, dtype=np.float32)
    planted[0] = 1.0
    client.set(key, planted.tobytes())
    other = SentenceVectors()
    other.share(SharedVectors(REDIS_URL, prefix=prefix), namespace=E5_NAMESPACE)
    assert np.allclose(other.embed_sentences([text]), neutralize(planted[None], shipped_subspace()))
    assert not np.allclose(first, other.embed_sentences([text]))
    client.close()


def test_a_patched_sentence_model_shares_its_vectors_under_its_own_namespace(prefix: str) -> None:
    """The sarcasm scorer's fine-tuned encoder: its vectors are shared with the processes running the same patch,
    never read by the plain model (nor the plain model's by it)."""
    from api.container import E5_NAMESPACE
    from assist.sarcasm import ENCODER_PATCH
    from kb_index.embeddings import SentenceVectors

    text = "I can only imagine how hard it must be to click a single link."
    plain = SentenceVectors()
    plain.share(SharedVectors(REDIS_URL, prefix=prefix), namespace=E5_NAMESPACE)
    tuned = SentenceVectors(encoder_patch=ENCODER_PATCH)
    tuned.share(SharedVectors(REDIS_URL, prefix=prefix), namespace=E5_NAMESPACE)
    client = redis.Redis.from_url(REDIS_URL)
    first = tuned.embed_sentences([text])
    keys = {k.decode() for k in client.scan_iter(f"{prefix}:vec:*")}
    assert len(keys) == 1 and ":patch-" in next(iter(keys))  # shared, under the patch's own namespace
    assert not np.allclose(plain.embed_sentences([text]), first)  # the plain model did not read the tuned vector
    assert len({k.decode() for k in client.scan_iter(f"{prefix}:vec:*")}) == 2
    planted = np.zeros(384, dtype=np.float32)
    planted[0] = 1.0
    client.set(next(iter(keys)), planted.tobytes())
    other = SentenceVectors(encoder_patch=ENCODER_PATCH)
    other.share(SharedVectors(REDIS_URL, prefix=prefix), namespace=E5_NAMESPACE)
    assert not np.allclose(other.embed_sentences([text]), first)  # read from the shared tier, not embedded again
    client.close()
