"""Would the bundled e5 model make a better tone scorer than our cues? A probe, not part of the product.

A logistic regression on the e5 passage vector of each text, fitted on the development split exactly as
``evals._tone_fit`` fits the cue models (politeness: Wikipedia top vs bottom quartile; irony: SemEval-2018
train), then scored once on the held-out split with the L2 fixed beforehand (10). Nothing was chosen on the
held-out figures: they say whether the model is worth its cost (about 0.6 ms per token on 2 cores, against
the tone check's 5 ms budget). Results in docs/evaluation.md (Tone, what didn't help).

    .venv/bin/python -m evals.tone_embedding_probe --data ../shared/eval/data
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evals._tone_data import load_irony, load_politeness, quartiles
from evals._tone_fit import fit_logistic
from evals._tone_metrics import roc_auc
from kb_index.embeddings import SPIN_COUNT

L2 = 10.0
FOLDS = 5


def embed(texts: Sequence[str]) -> np.ndarray:
    from kb_index.embeddings import E5Embeddings

    return E5Embeddings().embed_passages_array(list(texts))


def cross_validated(x: np.ndarray, y: np.ndarray) -> float:
    order = np.random.default_rng(0).permutation(len(y))
    scores = np.zeros(len(y))
    for fold in range(FOLDS):
        held = order[fold::FOLDS]
        w, b = fit_logistic(x[np.setdiff1d(order, held)], y[np.setdiff1d(order, held)], l2=L2)
        scores[held] = x[held] @ w + b
    return roc_auc(scores.tolist(), (y > 0.5).tolist())


def held_out(x: np.ndarray, y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> float:
    w, b = fit_logistic(x, y, l2=L2)
    return roc_auc((test_x @ w + b).tolist(), (test_y > 0.5).tolist())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/eval/data"))
    data = parser.parse_args().data
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)
    started = time.perf_counter()
    rows = []
    folder = data / "stanford_politeness"
    splits = []
    for name in ("wikipedia", "stack-exchange"):
        low, high = quartiles(load_politeness(folder / f"{name}.annotated.csv"))
        splits.append(([i.text for i in high + low], np.array([1.0] * len(high) + [0.0] * len(low))))
    (dev_texts, dev_y), (test_texts, test_y) = splits
    dev_x, test_x = embed(dev_texts), embed(test_texts)
    rows.append(
        ("politeness: polite vs impolite", cross_validated(dev_x, dev_y), held_out(dev_x, dev_y, test_x, test_y))
    )
    folder = data / "semeval2018_irony"
    train = load_irony(folder / "SemEval2018-T3-train-taskA_emoji.txt")
    gold = load_irony(folder / "SemEval2018-T3_gold_test_taskA_emoji.txt")
    train_x, gold_x = embed([i.text for i in train]), embed([i.text for i in gold])
    train_y, gold_y = np.array([i.label for i in train]), np.array([i.label for i in gold])
    rows.append(("irony: ironic vs not", cross_validated(train_x, train_y), held_out(train_x, train_y, gold_x, gold_y)))
    print("| task | dev, 5-fold AUC | held out AUC |\n|---|---|---|")
    for task, dev_auc, test_auc in rows:
        print(f"| {task} | {dev_auc:.3f} | {test_auc:.3f} |")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
