"""The learned half of the sarcasm check: how sarcastic each sentence of a draft reads, in any of our languages.

Phrase lists catch the sarcasm someone thought of; this scores the sentence as a whole. Each sentence becomes a
language-neutral vector of the bundled e5 model (given through ``SentenceEmbedder``: ``assist`` imports no model),
read beside the whole draft and the customer's message (``design``), and a logistic model fitted on agent drafts
written blind by several authors in four languages (``evals/_sarcasm_fit.py``; weights in
``prompts/models/sarcasm.json``) gives its probability.

A draft changes one sentence at a time while an agent types, so scores are cached per sentence: a draft whose
sentences were all seen costs dictionary lookups, and a new sentence costs its own embedding.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np

from prompts import ROOT as PROMPTS

MODEL_PATH = PROMPTS / "models" / "sarcasm.json"
# The top layers of the bundled e5, fine-tuned for this scorer (kb_index.e5_image lays them over the package's model).
ENCODER_PATCH = PROMPTS / "models" / "sarcasm-encoder.npz"
CACHE_SIZE = 8192
MAX_SENTENCE_CHARS = 600
# A reply has a few sentences; a paste of hundreds is scored on its first ones, so a check never takes seconds.
MAX_SENTENCES = 40  # e5 reads 512 tokens at most; a longer "sentence" is a paste, scored on its start


class SentenceEmbedder(Protocol):
    """Turns short texts into L2-normalised vectors (``kb_index.embeddings.SentenceVectors``)."""

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray: ...


def design(sentences: np.ndarray, context: np.ndarray | None) -> np.ndarray:
    """The model's input for each sentence of one draft: its vector, the mean vector of the draft's sentences
    (what the whole reply is about), and the vector of the customer's message it answers (zeros when unknown:
    sarcasm is often a reply to an exasperating message, but the check must work without one)."""
    mean = sentences.mean(axis=0, keepdims=True)
    ctx = np.zeros((1, sentences.shape[1]), dtype=np.float32) if context is None else context.reshape(1, -1)
    n = len(sentences)
    return np.hstack([sentences, np.repeat(mean, n, axis=0), np.repeat(ctx, n, axis=0)]).astype(np.float32)


@dataclass(frozen=True)
class RankHead:
    """How ironic a whole text reads, from the mean of its sentence vectors: a second logistic model, fitted on the
    public tweet sets' training splits (``evals/_sarcasm_rank.py``), that only ranks. Its probability times ``span``
    (the cap of the irony cues' fitted penalty it replaces in ``assist.tone``) lowers the ``non_sarcastic`` score,
    so that written irony scores lower; it never raises an issue, which the drafts' model and the phrases do."""

    weights: np.ndarray
    bias: float
    span: float

    def lowering(self, mean: np.ndarray) -> float:
        z = float(mean @ self.weights) + self.bias
        return self.span / (1.0 + float(np.exp(-z)))


@dataclass(frozen=True)
class SarcasmModel:
    """A logistic model over ``design``; ``threshold`` is the decision point for a sentence (and so a draft)."""

    weights: np.ndarray
    bias: float
    threshold: float
    confirm_floor: float = 0.0  # an ambiguous phrase ("obviously") counts only in a sentence scored at least this
    encoder: Path | None = None  # the fine-tuned layers its sentence vectors come from (None: the plain e5)
    # The lowest probability that lowers the ``non_sarcastic`` score (None: the threshold, so only a probability
    # that raises an issue does); below it, the phrase cues alone set the score.
    score_from: float | None = None
    rank: RankHead | None = None  # the tweets' ranking head (None: the score moves only with an issue or a cue)

    @property
    def scores_from(self) -> float:
        return self.threshold if self.score_from is None else self.score_from

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> SarcasmModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        rank = data.get("rank")
        return cls(
            weights=np.asarray(data["weights"], dtype=np.float32),
            bias=float(data["bias"]),
            threshold=float(data["threshold"]),
            confirm_floor=float(data.get("confirm_floor", 0.0)),
            encoder=path.parent / data["encoder"] if data.get("encoder") else None,
            score_from=float(data["score_from"]) if data.get("score_from") is not None else None,
            rank=RankHead(np.asarray(rank["weights"], dtype=np.float32), float(rank["bias"]), float(rank["span"]))
            if rank
            else None,
        )

    def probabilities(self, sentences: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        z = design(sentences, context) @ self.weights + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


@cache
def shipped_model() -> SarcasmModel:
    return SarcasmModel.load()


class SarcasmScorer:
    """Sentence probabilities of sarcasm; sentence vectors cached by text (thread-safe, least recently used out),
    so a draft whose sentences were all seen costs a small matrix product."""

    def __init__(
        self, embedder: SentenceEmbedder, *, model: SarcasmModel | None = None, cache_size: int = CACHE_SIZE
    ) -> None:
        self.embedder = embedder
        self.model = model or shipped_model()
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.misses = 0

    @property
    def threshold(self) -> float:
        return self.model.threshold

    def scores(self, sentences: Sequence[str], *, context: str | None = None) -> list[float]:
        """The probability that each sentence of one draft is sarcastic; ``context``: the customer's message."""
        return self.judge(sentences, context=context)[0]

    def judge(self, sentences: Sequence[str], *, context: str | None = None) -> tuple[list[float], float | None]:
        """``scores``, and how much the ranking head lowers the draft's ``non_sarcastic`` score (None without one)."""
        keys = [_key(t) for t in sentences]
        if not any(keys):
            return [0.0] * len(keys), None
        ctx_key = _key(context or "")
        vectors = self.vectors([k for k in keys if k] + ([ctx_key] if ctx_key else []))
        found = np.vstack([vectors[k] for k in keys if k])
        probs = iter(self.model.probabilities(found, vectors[ctx_key] if ctx_key else None))
        lowering = self.model.rank.lowering(found.mean(axis=0)) if self.model.rank else None
        return [float(next(probs)) if k else 0.0 for k in keys], lowering

    def vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The vector of each text, embedding only those not seen recently."""
        with self._lock:
            known = {k: self._cache[k] for k in texts if k in self._cache}
            for k in known:
                self._cache.move_to_end(k)
        missing = sorted({k for k in texts if k not in known})
        if missing:
            embedded = self.embedder.embed_sentences(missing)
            with self._lock:
                self.misses += len(missing)
                for k, v in zip(missing, embedded, strict=True):
                    self._cache[k] = known[k] = v
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return known


def _key(text: str) -> str:
    return text.strip()[:MAX_SENTENCE_CHARS]
