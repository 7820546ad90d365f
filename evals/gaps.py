"""Calibrating the knowledge-gap threshold (a script, not a test): when is a question one the KB cannot answer?

A question is recorded as a gap when the best passage found for it scores below ``TACTFUL_GAP_THRESHOLD``
(the relevance the service reads: cosine similarity of the language-neutral e5 vectors). The threshold is
chosen here, on development data only, as the one that best separates questions the knowledge base answers
from questions it does not (Youden's J: share of gaps caught minus share of answered questions wrongly
recorded). To have questions a knowledge base cannot answer, a quarter of the intents or subflows are left
out of it: their questions are the gaps.

- Banking77, development: KB from 80% of ``train.csv`` for three intents in four; queries the other 20% of
  ``train.csv`` (all intents). Banking77's own threshold is chosen here.
- Banking77, held out: KB from all of ``train.csv`` for the same intents; queries ``test.csv``. Reported only.
- Demo KB (ours): policies and FAQs written as prose, in four languages, like the knowledge bases the service
  is for. Its own questions (``demo_kb_queries.json``) against our questions it has no article for
  (``gap_queries.json``). Development: the "development" questions and every other gap question; the
  threshold the service ships with (``TACTFUL_GAP_THRESHOLD``) is chosen here. Held out: the "unseen"
  questions and the other gap questions.

The two knowledge bases want different thresholds: Banking77's "articles" are lists of customer questions, so
a question scores higher against them than against prose. The score is a cosine, not a probability; a
knowledge base written in another style should be calibrated on its own questions.

    .venv/bin/tactful eval gaps --data ../shared/eval/data
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from evals._ranking import spread_sample
from evals._retrieval_data import (
    Query,
    demo_documents,
    demo_queries,
    intent_documents,
    load_banking77,
    split_for_development,
)
from evals._tone_metrics import roc_auc
from evals.retrieval import EvalKnowledgeBase
from kb_index.embeddings import SPIN_COUNT

HERE = Path(__file__).parent
GAP_QUERIES = HERE / "gap_queries.json"
LEFT_OUT_EVERY = 4  # every 4th intent (sorted by name) is missing from the knowledge base
K = 5  # passages asked per question, as the assist engine does


@dataclass(frozen=True)
class Separation:
    """Best-passage scores of answerable questions and of gaps, and how a threshold splits them."""

    answered: np.ndarray
    gaps: np.ndarray

    @property
    def auc(self) -> float:
        """How well a low best score singles out gaps (1.0: every gap scores below every answered question)."""
        labels = [True] * len(self.gaps) + [False] * len(self.answered)
        return roc_auc([-float(s) for s in [*self.gaps, *self.answered]], labels)

    def rates(self, threshold: float) -> tuple[float, float, float]:
        """(gaps caught, answered questions recorded as gaps, precision of what is recorded) below ``threshold``."""
        caught = float(np.mean(self.gaps < threshold)) if len(self.gaps) else 0.0
        false = float(np.mean(self.answered < threshold)) if len(self.answered) else 0.0
        recorded = int(np.sum(self.gaps < threshold) + np.sum(self.answered < threshold))
        precision = float(np.sum(self.gaps < threshold)) / recorded if recorded else 0.0
        return caught, false, precision

    def best_threshold(self) -> float:
        """The threshold with the largest Youden's J (caught − false), halfway between two observed scores."""
        scores = np.unique(np.concatenate([self.gaps, self.answered]))
        candidates = (scores[:-1] + scores[1:]) / 2 if len(scores) > 1 else scores
        j = [self.rates(float(t))[0] - self.rates(float(t))[1] for t in candidates]
        return round(float(candidates[int(np.argmax(j))]), 3)


def best_scores(kb: EvalKnowledgeBase, queries: Sequence[Query]) -> np.ndarray:
    """The relevance of the best passage the service's retriever finds for each question."""
    out = []
    for query in queries:
        hits = kb.retriever.search(query.text, k=K, language=query.language)
        out.append(max((h.relevance for h in hits), default=0.0))
    return np.array(out, dtype=np.float32)


def left_out(intents: Sequence[str]) -> set[str]:
    return {intent for i, intent in enumerate(sorted(set(intents))) if i % LEFT_OUT_EVERY == LEFT_OUT_EVERY - 1}


def banking77(folder: Path, work: Path, *, limit: int = 0) -> tuple[Separation, Separation, list[str]]:
    train = load_banking77(folder / "train.csv")
    missing = left_out([q.gold for q in train])
    build, dev = split_for_development(train)
    kb = EvalKnowledgeBase(work / "banking77-gaps")
    kb.sync(
        "Banking77 dev KB (80% of train, 3 intents in 4)", intent_documents(q for q in build if q.gold not in missing)
    )
    dev = spread_sample(dev, limit)
    dev_sep = _separate(kb, dev, missing)
    kb.sync("Banking77 KB (all of train, 3 intents in 4)", intent_documents(q for q in train if q.gold not in missing))
    test = spread_sample(load_banking77(folder / "test.csv"), limit)
    return dev_sep, _separate(kb, test, missing), kb.notes


def demo(work: Path) -> tuple[Separation, Separation, list[str]]:
    kb = EvalKnowledgeBase(work / "demo-gaps")
    kb.sync("Demo KB", demo_documents())
    items = json.loads(GAP_QUERIES.read_text(encoding="utf-8"))["questions"]
    gaps = [Query(item["text"], "", item["language"]) for item in items]
    dev = Separation(best_scores(kb, demo_queries("development")), best_scores(kb, gaps[0::2]))
    held_out = Separation(best_scores(kb, demo_queries("unseen")), best_scores(kb, gaps[1::2]))
    return dev, held_out, kb.notes


def _separate(kb: EvalKnowledgeBase, queries: Sequence[Query], missing: set[str]) -> Separation:
    answered = [q for q in queries if q.gold not in missing]
    gaps = [q for q in queries if q.gold in missing]
    return Separation(best_scores(kb, answered), best_scores(kb, gaps))


def _row(name: str, split: str, sep: Separation, threshold: float) -> str:
    caught, false, precision = sep.rates(threshold)
    return (
        f"| {name} | {split} | {len(sep.answered)} | {len(sep.gaps)} | {sep.auc:.3f} | {threshold:.3f} | "
        f"{caught:.1%} | {false:.1%} | {precision:.1%} | "
        f"{np.median(sep.answered):.3f} / {np.median(sep.gaps):.3f} |"
    )


def evaluate(data: Path, *, limit: int = 0) -> str:
    """Choose a threshold on each development split; report it there and on the held-out split."""
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)  # see kb_index/embeddings.py
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tactful-eval-gaps-") as tmp:
        work = Path(tmp)
        dev, test, notes = banking77(data / "banking77", work, limit=limit)
        demo_dev, demo_held_out, demo_notes = demo(work)
    banking = dev.best_threshold()
    chosen = demo_dev.best_threshold()
    head = (
        "| knowledge base | questions | answered | gaps | AUC | threshold | gaps caught | answered recorded as gaps "
        "| precision | median best score (answered / gaps) |"
    )
    lines = [
        head,
        "|" + "---|" * 10,
        _row("Demo KB, 4 languages (ours)", "dev: development + half the gaps (chosen here)", demo_dev, chosen),
        _row("Demo KB, 4 languages (ours)", "held out: unseen + other half", demo_held_out, chosen),
        _row("Banking77 (questions as articles)", "dev: 20% of train (its own threshold)", dev, banking),
        _row("Banking77 (questions as articles)", "test (held out), its own threshold", test, banking),
        _row("Banking77 (questions as articles)", "test (held out), the demo KB's threshold", test, chosen),
    ]
    notes = [
        *notes,
        *demo_notes,
        f"thresholds (Youden's J on each dev split): demo KB {chosen:.3f}, Banking77 {banking:.3f}",
        f"{date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
        f"limit {limit or 'none'}, {time.perf_counter() - started:.0f} s in all",
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes)
