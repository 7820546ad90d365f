"""Scoring metrics for the tone evaluation: ROC-AUC, Spearman correlation, F1 and the F1-best threshold."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n of ``values``, ties sharing the mean of the ranks they span."""
    x = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    ranks = np.empty(len(x), dtype=float)
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or ordered[end] != ordered[start]:
            ranks[order[start:end]] = (start + end + 1) / 2
            start = end
    return ranks


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """The probability that a positive item scores above a negative one (ties count half): Mann–Whitney U."""
    y = np.asarray(labels, dtype=bool)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = average_ranks(scores)
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson on average ranks); nan when either side is constant."""
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator else float("nan")


def f1(predicted: Sequence[bool], labels: Sequence[bool]) -> float:
    """F1 of the positive class."""
    p, y = np.asarray(predicted, dtype=bool), np.asarray(labels, dtype=bool)
    true_positives = int((p & y).sum())
    both = int(p.sum()) + int(y.sum())
    return 2 * true_positives / both if both else 0.0


def accuracy(predicted: Sequence[bool], labels: Sequence[bool]) -> float:
    """The share of items predicted right."""
    p, y = np.asarray(predicted, dtype=bool), np.asarray(labels, dtype=bool)
    return float((p == y).mean()) if len(y) else 0.0


Metric = Callable[[Sequence[bool], Sequence[bool]], float]


def best_threshold(scores: Sequence[float], labels: Sequence[bool], *, by: Metric = f1) -> float:
    """The threshold ``t`` maximising ``by`` (F1 by default) when predicting positive for ``score >= t``."""
    candidates = np.unique(np.asarray(scores, dtype=float))
    best, best_value = float(candidates[0]) if len(candidates) else 0.0, -1.0
    for t in candidates:
        value = by([s >= t for s in scores], labels)
        if value > best_value:
            best, best_value = float(t), value
    return best
