"""Fit the tone scorer's models on the development splits and write their weights into the tone banks.

One logistic regression per dimension, on the features of ``assist.tone.tone_features`` (English lexicons;
the weights are shared by every language, whose banks hold the same cues in their own words):

- ``professional``: Stanford Politeness, Wikipedia, top vs bottom quartile of human politeness;
- ``non_sarcastic``: SemEval-2018 irony task A, train, not ironic vs ironic;
- ``empathetic``: EPITOME emotional reactions, level ≥ 1 vs 0.

The held-out files are never read here.

    .venv/bin/python -m evals._tone_fit --data ../shared/eval/data [--write]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from assist.tone import tone_features
from assist.tone_bank import BANK
from evals._tone_data import (
    EMPATHY,
    EMPATHY_FILES,
    IRONY,
    IRONY_FILES,
    POLITENESS,
    POLITENESS_FILES,
    load_empathy,
    load_irony,
    load_politeness,
    quartiles,
)
from evals._tone_metrics import roc_auc
from prompts import BANKS, SUPPORTED_LANGUAGES

MARKER = "# ---- Fitted by evals/_tone_fit.py"
L2 = 1.0
FOLDS = 5
COURTESY = (
    "gratitude", "please", "please_start", "apology", "greeting", "hedge", "praise", "positive", "negative", "rude",
    "factuality", "why", "direct_question", "direct_start", "you_start", "first_person_start", "second_person",
    "negation", "caps", "exclamation", "acknowledgement",
)  # fmt: skip
IRONY_CUES = (
    "irony_marker", "interjection", "intensifier", "positive", "situation", "contrast", "ellipsis", "quotes",
    "irony_emoji", "exclamation", "caps", "factuality", "question",
)  # fmt: skip
EMPATHY_CUES = (
    "acknowledgement", "apology", "warmth", "feeling", "understanding", "exploration", "second_person", "advice",
    "rude", "gratitude", "exclamation", "question",
)  # fmt: skip


@dataclass(frozen=True)
class Spec:
    """A dimension's model: what it is fitted on, its features, and the sign each cue must have by its meaning."""

    dimension: str
    source: str
    features: tuple[str, ...]
    signs: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Fitted:
    spec: Spec
    bias: float
    weights: dict[str, float]
    items: int
    train_auc: float
    cv_auc: float


# An irony cue may only lower non_sarcastic, an empathy cue only raise empathetic: a cue whose fitted weight
# has the wrong sign is left out (weight 0) and the rest refitted, so the models stay explainable.
SPECS = (
    Spec("professional", "Stanford Politeness, Wikipedia: top vs bottom quartile", COURTESY),
    Spec("non_sarcastic", "SemEval-2018 irony task A, train: not ironic vs ironic", IRONY_CUES,
         dict.fromkeys(IRONY_CUES[:-1], -1)),
    Spec("empathetic", "EPITOME emotional reactions: level >= 1 vs 0", EMPATHY_CUES,
         {**dict.fromkeys(EMPATHY_CUES[:6], 1), "rude": -1}),
)  # fmt: skip


def fit_logistic(
    x: np.ndarray, y: np.ndarray, *, l2: float = L2, weights: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (bias unpenalised) by Newton's method: the weights and the bias.
    ``weights``: how much each row counts (1 each by default)."""
    n, d = x.shape
    rows = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    design = np.hstack([x, np.ones((n, 1))])
    penalty = np.diag(np.r_[np.full(d, l2), 0.0])
    theta = np.zeros(d + 1)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(design @ theta)))
        gradient = design.T @ (rows * (p - y)) + penalty @ theta
        hessian = design.T @ (design * (rows * p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if float(np.abs(step).max()) < 1e-9:
            break
    return theta[:d], float(theta[d])


def fit_signed(x: np.ndarray, y: np.ndarray, signs: Sequence[int]) -> tuple[np.ndarray, float]:
    """``fit_logistic`` keeping each weight's sign (+1, -1, 0 for free): wrong-signed features are dropped."""
    kept = list(range(x.shape[1]))
    while True:
        w, b = fit_logistic(x[:, kept], y)
        wrong = [j for j, v in zip(kept, w, strict=True) if signs[j] and v * signs[j] < 0]
        if not wrong:
            full = np.zeros(x.shape[1])
            full[kept] = w
            return full, b
        kept.remove(min(wrong, key=lambda j: float(w[kept.index(j)] * signs[j])))


def cross_validated_auc(x: np.ndarray, y: np.ndarray, signs: Sequence[int], *, folds: int = FOLDS) -> float:
    """ROC-AUC of out-of-fold scores (every item scored by a model fitted without it)."""
    order = np.random.default_rng(0).permutation(len(y))
    scores = np.zeros(len(y))
    for fold in range(folds):
        held = order[fold::folds]
        kept = np.setdiff1d(order, held)
        w, b = fit_signed(x[kept], y[kept], signs)
        scores[held] = x[held] @ w + b
    return roc_auc(scores.tolist(), (y > 0.5).tolist())


def design_matrix(texts: Sequence[str], names: Sequence[str]) -> np.ndarray:
    """The features ``names`` of every text (English banks), one row per text."""
    rows = [tone_features(text, language="en") for text in texts]
    return np.array([[row[name] for name in names] for row in rows], dtype=float)


def development_sets(data: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """Texts and 1/0 targets (1 = good on the dimension) of each dimension's development split."""
    low, high = quartiles(load_politeness(data / POLITENESS / POLITENESS_FILES["dev"]))
    irony = load_irony(data / IRONY / IRONY_FILES["dev"])
    empathy = load_empathy(data / EMPATHY / EMPATHY_FILES["emotional reactions"])
    return {
        "professional": ([i.text for i in low + high], np.array([0.0] * len(low) + [1.0] * len(high))),
        "non_sarcastic": ([i.text for i in irony], np.array([1.0 - i.label for i in irony])),
        "empathetic": ([i.text for i in empathy], np.array([float(i.label >= 1) for i in empathy])),
    }


def fit_all(data: Path) -> list[Fitted]:
    """Every dimension's model fitted on its development split."""
    sets, fitted = development_sets(data), []
    for spec in SPECS:
        texts, y = sets[spec.dimension]
        x = design_matrix(texts, spec.features)
        signs = [spec.signs.get(name, 0) for name in spec.features]
        w, b = fit_signed(x, y, signs)
        train = roc_auc((x @ w + b).tolist(), (y > 0.5).tolist())
        weights = {name: round(float(v), 3) for name, v in zip(spec.features, w, strict=True)}
        fitted.append(Fitted(spec, round(b, 3), weights, len(y), train, cross_validated_auc(x, y, signs)))
    return fitted


def models_block(fitted: Sequence[Fitted]) -> str:
    """The TOML tables of the fitted models, with where each came from."""
    lines = [
        f"{MARKER} on {date.today().isoformat()}: do not edit by hand, rerun it ----",
        "# The same weights in every language: the cues they weigh are the [features] lexicons of each bank.",
    ]
    for f in fitted:
        lines += [
            "",
            f"# {f.spec.source}; {f.items} items, L2 {L2}; AUC {f.train_auc:.3f} fitted, {f.cv_auc:.3f} {FOLDS}-fold.",
            f"[scoring.models.{f.spec.dimension}]",
            f"bias = {f.bias}",
            "",
            f"[scoring.models.{f.spec.dimension}.weights]",
            *(f"{name} = {value}" for name, value in f.weights.items()),
        ]
    return "\n".join(lines) + "\n"


def write_banks(block: str) -> None:
    """Replace the fitted block at the end of every tone bank with ``block``."""
    for language in SUPPORTED_LANGUAGES:
        path = BANKS / BANK / f"{language}.toml"
        text = path.read_text(encoding="utf-8")
        head = text.split(MARKER, 1)[0].rstrip("\n")
        path.write_text(head + "\n\n" + block, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Fit, print the block, and write it into the banks with ``--write``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/eval/data"))
    parser.add_argument("--write", action="store_true", help="write the fitted weights into the tone banks")
    args = parser.parse_args(argv)
    block = models_block(fit_all(args.data))
    print(block)
    if args.write:
        write_banks(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
