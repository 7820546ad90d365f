"""Fit the done-steps model (``assist.done_steps.DoneModel``) on the development split of the steps set.

For each development conversation, each step of its gold procedure, ``assist.done_steps.done_features`` as the
planner computes them (the rules' words, the e5 echoes, the steps' order), labelled done when the author said so;
an L2 logistic regression over the standardised features. Leave-one-author-out (b1 ↔ b3) figures are printed beside
the rules' before anything is written: the model deciding alone, and the rules with what it adds (as the planner uses
it, ``assist.done_steps.weighed_done``). The held-out split is never read.

    .venv/bin/python -m evals._done_fit            # figures only
    .venv/bin/python -m evals._done_fit --write    # and prompts/models/done_steps.json
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assist.done_steps import DONE_FEATURES, DONE_MODEL_PATH, DoneModel, DoneSteps, Echoes, done_features, lexicon
from evals._demo import demo_container
from evals.steps import DEMO_KB, first_list, load_cases

L2 = 1.0
THRESHOLD = 0.5


@dataclass
class Rows:
    features: np.ndarray
    done: np.ndarray  # the author's label
    status: np.ndarray  # done, next or other
    author: np.ndarray
    rules: np.ndarray  # what the rules alone (words or echoes) say


def rows() -> Rows:
    from kb_index.loaders import iter_paths, load_path

    documents = {d.id: d for d in map(load_path, iter_paths([DEMO_KB]))}
    feats: list[np.ndarray] = []
    done: list[bool] = []
    status: list[str] = []
    author: list[str] = []
    rules: list[bool] = []
    with demo_container("tactful-done-fit-") as container:
        embedder = container.assist.rules.retriever
        for _, case in load_cases(["dev"]):
            document = documents[case.document]
            steps = first_list(document.text)
            numbers = sorted(steps)
            texts = [steps[n] for n in numbers]
            words = DoneSteps.of(case.conversation, lexicon(frozenset({case.language, document.language})))
            echoes = Echoes.of(case.conversation, embedder)  # type: ignore[arg-type]
            found = [words.reason(t) for t in texts]
            table, _ = done_features(texts, found, echoes, words.lexicon)
            feats.append(table)
            for index, number in enumerate(numbers):
                done.append(number in case.done)
                status.append("done" if number in case.done else "next" if number in case.next else "other")
                author.append(case.author)
                rules.append(bool(table[index, 9] or table[index, 11]))
    return Rows(np.vstack(feats), np.array(done), np.array(status), np.array(author), np.array(rules))


def fit(x: np.ndarray, y: np.ndarray, *, l2: float = L2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights (bias first), mean and scale of an L2 logistic regression on standardised features."""
    from scipy.optimize import minimize

    mean, scale = np.nanmean(x, axis=0), np.nanstd(x, axis=0) + 1e-6
    # An unknown feature (no sentence of its kind) counts as its mean, as ``DoneModel.probabilities`` reads it.
    a = np.hstack([np.ones((len(x), 1)), np.nan_to_num((x - mean) / scale, nan=0.0)])
    target = y.astype(np.float64)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        p = 1.0 / (1.0 + np.exp(-(a @ w)))
        value = -np.sum(target * np.log(p + 1e-12) + (1 - target) * np.log(1 - p + 1e-12)) + l2 * np.sum(w[1:] ** 2)
        grad = a.T @ (p - target) + np.r_[0.0, 2 * l2 * w[1:]]
        return float(value), grad

    weights = minimize(loss, np.zeros(a.shape[1]), jac=True, method="L-BFGS-B").x
    return weights, mean, scale


def counts(chosen: np.ndarray, status: np.ndarray) -> str:
    found = {s: int((chosen & (status == s)).sum()) for s in ("done", "next", "other")}
    return f"done found {found['done']}, next taken {found['next']}, other taken {found['other']}"


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {DONE_MODEL_PATH}")
    args = parser.parse_args(argv)
    data = rows()
    print(f"steps {len(data.done)}: done {int(data.done.sum())}, next {int((data.status == 'next').sum())}")
    for held in ("b1", "b3"):
        train, test = data.author != held, data.author == held
        weights, mean, scale = fit(data.features[train], data.done[train])
        model = DoneModel(weights, mean, scale, THRESHOLD)
        chosen = model.probabilities(data.features[test]) >= THRESHOLD
        rules, status = data.rules[test], data.status[test]
        print(f"{held}, fitted on the other author:\n  rules alone: {counts(rules, status)}\n"
              f"  the model alone: {counts(chosen, status)}\n"
              f"  the rules and what the model adds (shipped): {counts(rules | chosen, status)}")  # fmt: skip
    weights, mean, scale = fit(data.features, data.done)
    print({name: round(float(w), 3) for name, w in zip(("bias", *DONE_FEATURES), weights, strict=True)})
    if args.write:
        model = {
            "features": list(DONE_FEATURES),
            "weights": [round(float(w), 6) for w in weights],
            "mean": [round(float(m), 6) for m in mean],
            "scale": [round(float(s), 6) for s in scale],
            "threshold": THRESHOLD,
            "fitted_on": "evals/steps_corpus development split (b1, b3), python -m evals._done_fit --write",
        }
        DONE_MODEL_PATH.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
        print(f"written {DONE_MODEL_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
