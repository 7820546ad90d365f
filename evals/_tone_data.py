"""Loaders for the tone evaluation data in ``../shared/eval/data`` (read only; never shipped).

Stanford Politeness (Danescu-Niculescu-Mizil et al., 2013), SemEval-2018 task 3 irony (Van Hee et al.) and
EPITOME empathy (Sharma et al., 2020). Each loader returns plain items: the text and its human label.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

POLITENESS = "stanford_politeness"
IRONY = "semeval2018_irony"
EMPATHY = "epitome_empathy"
POLITENESS_FILES = {"dev": "wikipedia.annotated.csv", "test": "stack-exchange.annotated.csv"}
IRONY_FILES = {"dev": "SemEval2018-T3-train-taskA_emoji.txt", "test": "SemEval2018-T3_gold_test_taskA_emoji.txt"}
EMPATHY_FILES = {
    "emotional reactions": "emotional-reactions-reddit.csv",
    "interpretations": "interpretations-reddit.csv",
    "explorations": "explorations-reddit.csv",
}


@dataclass(frozen=True)
class Item:
    """A text and its human label: a politeness score, 1/0 for ironic, or an empathy level 0..2."""

    text: str
    label: float


def load_politeness(path: Path) -> list[Item]:
    """Requests with their normalised (z-scored) politeness from the annotated CSV."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [Item(row["Request"], float(row["Normalized Score"])) for row in csv.DictReader(fh)]


def load_irony(path: Path) -> list[Item]:
    """Tweets with 1 (ironic) or 0 from a task A file: ``index<TAB>label<TAB>text`` after a header line."""
    items = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[1].strip() in ("0", "1"):
            items.append(Item(parts[2], float(parts[1])))
    return items


def load_empathy(path: Path) -> list[Item]:
    """Peer replies (``response_post``) with the level 0..2 of the file's empathy mechanism."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [Item(row["response_post"], float(row["level"])) for row in csv.DictReader(fh)]


def quartiles(items: list[Item]) -> tuple[list[Item], list[Item]]:
    """The bottom and top quartiles of ``items`` by label (as the politeness paper splits impolite/polite)."""
    labels = np.array([i.label for i in items])
    low, high = np.quantile(labels, [0.25, 0.75])
    return [i for i in items if i.label <= low], [i for i in items if i.label >= high]
