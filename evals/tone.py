"""Tone evaluation on Stanford Politeness, SemEval-2018 irony and EPITOME empathy (a script, not a test).

Our tone check (``assist.tone.check_tone`` in English, no name, no contact level) beside a plain sentiment
lexicon (VADER's compound score, the ``eval`` extra) on the same items. The development splits (Wikipedia,
irony train, emotional reactions) are the only ones anything was calibrated on; StackExchange, the irony gold
test and EPITOME's interpretations and explorations are held out and only ever computed here.

    .venv/bin/tactful eval tone --data ../shared/eval/data
"""

from __future__ import annotations

import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from assist.models import ToneReport
from assist.tone import check_tone
from evals._ranking import percentile, spread_sample
from evals._tone_data import (
    EMPATHY,
    EMPATHY_FILES,
    IRONY,
    IRONY_FILES,
    POLITENESS,
    POLITENESS_FILES,
    Item,
    load_empathy,
    load_irony,
    load_politeness,
    quartiles,
)
from evals._tone_metrics import accuracy, best_threshold, f1, roc_auc, spearman

# Issue kinds an agent would be wrong to see on a polite reply: a false alarm is any of these.
SERIOUS = ("shouting", "exclamation", "threat", "aggressive", "sarcasm", "scare_quotes", "eye_roll", "blame",
           "order", "condescension")  # fmt: skip
NEGATIVE_COMPOUND = -0.05  # VADER's own cut-off for "negative"
OURS, BASELINE = "ours", "VADER compound"

Scorer = Callable[[str], float]


@dataclass(frozen=True)
class Row:
    dataset: str
    split: str
    items: int
    method: str
    auc: float
    rho: float | None = None
    f1: float | None = None
    accuracy: float | None = None

    def cells(self) -> list[str]:
        extra = [_cell(self.rho), _cell(self.f1), _cell(self.accuracy)]
        return [self.dataset, self.split, str(self.items), self.method, _cell(self.auc), *extra]


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


class Reports:
    """Our tone reports, one per distinct text, computed once and timed."""

    def __init__(self) -> None:
        self.cache: dict[str, ToneReport] = {}
        self.millis: list[float] = []

    def __call__(self, text: str) -> ToneReport:
        if text not in self.cache:
            start = time.perf_counter()
            self.cache[text] = check_tone(text, language="en")
            self.millis.append((time.perf_counter() - start) * 1000)
        return self.cache[text]


def vader() -> Scorer:
    """VADER's compound score (imported lazily: it is only in the ``eval`` extra)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    cache: dict[str, float] = {}

    def score(text: str) -> float:
        if text not in cache:
            cache[text] = float(analyzer.polarity_scores(text)["compound"])
        return cache[text]

    return score


def politeness_rows(folder: Path, reports: Reports, baseline: Scorer, *, limit: int) -> list[Row]:
    """AUC of the overall score, top vs bottom quartile of human politeness, and Spearman over all items."""
    rows = []
    for split, name in (("dev: Wikipedia", "dev"), ("held out: StackExchange", "test")):
        items = spread_sample(load_politeness(folder / POLITENESS_FILES[name]), limit)
        for method, score in ((OURS, lambda t: reports(t).score), (BASELINE, baseline)):
            rows.append(_politeness_row(split, method, items, score))
    return rows


def _politeness_row(split: str, method: str, items: Sequence[Item], score: Scorer) -> Row:
    low, high = quartiles(list(items))
    ends = low + high
    auc = roc_auc([score(i.text) for i in ends], [i in high for i in ends])
    rho = spearman([score(i.text) for i in items], [i.label for i in items])
    return Row("Stanford Politeness", split, len(items), method, auc, rho=rho)


def irony_rows(folder: Path, reports: Reports, baseline: Scorer, *, limit: int) -> list[Row]:
    """AUC of irony (1 − non_sarcastic); F1 of the ironic class and accuracy at a threshold chosen on train.

    The threshold is the most accurate one on train: on that balanced split the F1-best threshold flags nearly
    every tweet (F1 0.666, what flagging all of them gets), which says nothing about the scorer.
    """
    train = spread_sample(load_irony(folder / IRONY_FILES["dev"]), limit)
    test = spread_sample(load_irony(folder / IRONY_FILES["test"]), limit)
    ours: Scorer = lambda t: 1 - reports(t).dimensions.non_sarcastic  # noqa: E731
    sign = 1.0 if roc_auc([baseline(i.text) for i in train], [i.label > 0 for i in train]) >= 0.5 else -1.0
    theirs: Scorer = lambda t: sign * baseline(t)  # noqa: E731
    rows = []
    for method, score in ((OURS, ours), (f"{BASELINE} ({'+' if sign > 0 else '−'})", theirs)):
        threshold = best_threshold([score(i.text) for i in train], [i.label > 0 for i in train], by=accuracy)
        for split, items in (("dev: train", train), ("held out: gold test", test)):
            rows.append(_irony_row(split, method, items, score, threshold))
    return rows


def _irony_row(split: str, method: str, items: Sequence[Item], score: Scorer, threshold: float) -> Row:
    scores, labels = [score(i.text) for i in items], [i.label > 0 for i in items]
    predicted = [s >= threshold for s in scores]
    auc = roc_auc(scores, labels)
    return Row(
        "SemEval-2018 irony (A)",
        split,
        len(items),
        method,
        auc,
        f1=f1(predicted, labels),
        accuracy=accuracy(predicted, labels),
    )


def empathy_rows(folder: Path, reports: Reports, baseline: Scorer, *, limit: int) -> list[Row]:
    """AUC of the empathetic dimension for level ≥ 1 vs 0, per EPITOME mechanism."""
    splits = {name: spread_sample(load_empathy(folder / file), limit) for name, file in EMPATHY_FILES.items()}
    dev = splits["emotional reactions"]
    sign = 1.0 if roc_auc([baseline(i.text) for i in dev], [i.label >= 1 for i in dev]) >= 0.5 else -1.0
    rows = []
    for name, items in splits.items():
        split = f"dev: {name}" if name == "emotional reactions" else f"held out: {name}"
        labels = [i.label >= 1 for i in items]
        ours = roc_auc([reports(i.text).dimensions.empathetic for i in items], labels)
        theirs = roc_auc([sign * baseline(i.text) for i in items], labels)
        rows.append(Row("EPITOME empathy", split, len(items), OURS, ours))
        rows.append(Row("EPITOME empathy", split, len(items), f"{BASELINE} ({'+' if sign > 0 else '−'})", theirs))
    return rows


def false_alarms(folder: Path, reports: Reports, baseline: Scorer, *, limit: int) -> list[str]:
    """The share of polite requests (top quartile) with a serious issue, per kind; VADER's "negative" beside it."""
    lines = []
    for split, name in (("dev: Wikipedia", "dev"), ("held out: StackExchange", "test")):
        _low, polite = quartiles(spread_sample(load_politeness(folder / POLITENESS_FILES[name]), limit))
        kinds = [{i.kind for i in reports(item.text).issues} & set(SERIOUS) for item in polite]
        flagged = sum(bool(k) for k in kinds) / len(polite)
        per_kind = Counter(kind for k in kinds for kind in k)
        detail = ", ".join(f"{kind} {n / len(polite):.1%}" for kind, n in per_kind.most_common()) or "none"
        negative = sum(baseline(i.text) < NEGATIVE_COMPOUND for i in polite) / len(polite)
        lines.append(f"| {split} top quartile | {len(polite)} | {flagged:.1%} | {detail} | {negative:.1%} |")
    head = "| polite requests | items | ours: any serious issue | ours per kind | VADER: compound < −0.05 |"
    return [head, "|---|---|---|---|---|", *lines]


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table."""
    head = ["dataset", "split", "items", "method", "ROC-AUC", "Spearman", "F1 (ironic)", "accuracy"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row.cells()) + " |" for row in rows])


def evaluate(data: Path, *, limit: int = 0) -> str:
    """Run the whole tone evaluation on the data folder; the results as Markdown."""
    started = time.perf_counter()
    reports, baseline = Reports(), vader()
    rows = politeness_rows(data / POLITENESS, reports, baseline, limit=limit)
    rows += irony_rows(data / IRONY, reports, baseline, limit=limit)
    rows += empathy_rows(data / EMPATHY, reports, baseline, limit=limit)
    alarms = false_alarms(data / POLITENESS, reports, baseline, limit=limit)
    notes = [
        f"serious kinds: {', '.join(SERIOUS)}",
        f"tone check on these items: p50 {percentile(reports.millis, 0.5):.2f} ms, "
        f"p95 {percentile(reports.millis, 0.95):.2f} ms ({len(reports.millis)} distinct texts)",
        f"{date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
        f"limit {limit or 'none'}, {time.perf_counter() - started:.0f} s in all",
    ]
    return "\n\n".join([markdown_table(rows), "\n".join(alarms), "\n".join(f"- {n}" for n in notes)])
