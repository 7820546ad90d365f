"""Ranking metrics: recall@k, mean reciprocal rank, latency percentiles, and chunk hits turned into documents."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


def documents_in_order(document_ids: Iterable[str]) -> list[str]:
    """Each document once, at the rank of its best chunk (the hits are best first)."""
    return list(dict.fromkeys(document_ids))


def recall_at(ranked: Sequence[Sequence[str]], gold: Sequence[str], k: int) -> float:
    """The share of queries whose gold document is among the first ``k`` of its ranking."""
    if not gold:
        return 0.0
    return sum(g in r[:k] for r, g in zip(ranked, gold, strict=True)) / len(gold)


def mean_reciprocal_rank(ranked: Sequence[Sequence[str]], gold: Sequence[str]) -> float:
    """The mean of 1/rank of the gold document (0 when it is not ranked at all)."""
    if not gold:
        return 0.0
    return sum(1.0 / (list(r).index(g) + 1) if g in r else 0.0 for r, g in zip(ranked, gold, strict=True)) / len(gold)


def percentile(samples: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ``samples``; 0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def spread_sample(items: Sequence[T], limit: int) -> list[T]:
    """At most ``limit`` items taken evenly across ``items`` (all of them when ``limit`` is 0)."""
    if limit <= 0 or limit >= len(items):
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]
