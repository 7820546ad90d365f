"""Language-neutral embeddings: project the language identity out of e5 vectors.

multilingual-e5 scores a passage in the query's own language higher than a better passage in another
one. The per-language means of the same sentences in several languages differ by language only; the
few directions spanning those differences (for queries and for passages) are removed from every vector
(cf. "language-agnostic representations by removing the language subspace", Yang et al., 2021).
The directions are computed once from ``parallel_sentences.toml`` and shipped in ``language_subspace.npy``.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

HERE = Path(__file__).parent
SENTENCES = HERE / "parallel_sentences.toml"
SUBSPACE = HERE / "language_subspace.npy"
REFERENCE = HERE / "reference_queries.npy"
DIRECTIONS_PER_SIDE = 3


def _directions(by_language: dict[str, np.ndarray]) -> np.ndarray:
    means = np.vstack([m.mean(axis=0) for m in by_language.values()])
    _, _, vt = np.linalg.svd(means - means.mean(axis=0), full_matrices=False)
    return vt[:DIRECTIONS_PER_SIDE]


def compute_subspace(model: Any) -> np.ndarray:
    """An orthonormal basis (rows) of the language subspace, from the parallel sentences."""
    sentences: dict[str, list[str]] = tomllib.loads(SENTENCES.read_text(encoding="utf-8"))
    passages = {lang: np.asarray(model.embed_passages_array(s)) for lang, s in sentences.items()}
    queries = {lang: np.vstack([model.embed_query_array(t) for t in s]) for lang, s in sentences.items()}
    basis, _ = np.linalg.qr(np.vstack([_directions(passages), _directions(queries)]).T)
    return np.asarray(basis.T, dtype=np.float32)


@cache
def shipped_subspace() -> np.ndarray:
    return np.asarray(np.load(SUBSPACE), dtype=np.float32)


def compute_reference_queries(model: Any, basis: np.ndarray) -> np.ndarray:
    """The parallel sentences embedded as queries and neutralised: a fixed sample of what customers ask."""
    sentences: dict[str, list[str]] = tomllib.loads(SENTENCES.read_text(encoding="utf-8"))
    return neutralize(np.vstack([model.embed_query_array(t) for s in sentences.values() for t in s]), basis)


@cache
def shipped_reference_queries() -> np.ndarray:
    return np.asarray(np.load(REFERENCE), dtype=np.float32)


def neutralize(vectors: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``vectors`` (1-D or 2-D) with the language subspace removed, L2-normalised again."""
    out = vectors - (vectors @ basis.T) @ basis
    norm = np.linalg.norm(out, axis=-1, keepdims=True)
    return np.asarray(out / np.where(norm == 0, 1.0, norm), dtype=np.float32)


class LanguageNeutralEmbeddings(Embeddings):
    """Wraps an embedder with ``embed_passages_array``/``embed_query_array`` (e5) and neutralises its vectors."""

    def __init__(self, inner: Any, *, basis: np.ndarray | None = None) -> None:
        self.inner = inner
        self.basis = shipped_subspace() if basis is None else basis
        self.name = f"{getattr(inner, 'name', 'embeddings')}+neutral"

    def reference_queries(self) -> np.ndarray:
        """Typical queries, to measure how much of a "hub" a passage is (close to everything)."""
        return shipped_reference_queries()

    def embed_passages_array(self, texts: list[str]) -> np.ndarray:
        return neutralize(self.inner.embed_passages_array(texts), self.basis)

    def embed_query_array(self, text: str) -> np.ndarray:
        return neutralize(self.inner.embed_query_array(text), self.basis)

    def embed_queries_array(self, texts: list[str]) -> np.ndarray:
        from kb_index.embeddings import embed_queries_array

        return neutralize(embed_queries_array(self.inner, texts), self.basis)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = self.embed_passages_array(texts).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        vector: list[float] = self.embed_query_array(text).tolist()
        return vector


if __name__ == "__main__":
    from kb_index.embeddings import E5Embeddings

    model = E5Embeddings()
    basis = compute_subspace(model)
    np.save(SUBSPACE, basis)
    np.save(REFERENCE, compute_reference_queries(model, basis))
    print(f"wrote {SUBSPACE} and {REFERENCE}")
