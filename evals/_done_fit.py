"""Fit the done-steps model (``assist.done_steps.DoneModel``) on the development split of the steps set.

For each development conversation, each step of its gold procedure, ``assist.done_steps.done_features`` as the
planner computes them (the rules' words, the e5 echoes, the steps' order), labelled done when the author said so;
an L2 logistic regression over the standardised features. Before anything is written, leave-one-author-out figures
(each development author counted by a model fitted on the others): per step, what the conversation says before any
weighing (``stated_done``), the model alone, and both (as the planner uses them, ``weighed_done``); with
``--end-to-end``, the steps evaluation (``evals.steps``) of each author with the model fitted on the others, at each
``--thresholds``. The held-out split is never read.

    .venv/bin/python -m evals._done_fit                          # figures only
    .venv/bin/python -m evals._done_fit --end-to-end             # and each author's steps evaluation (~6 min)
    .venv/bin/python -m evals._done_fit --write                  # and prompts/models/done_steps.json
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from assist.done_steps import (
    DONE_FEATURES,
    DONE_MODEL_PATH,
    DoneModel,
    DoneSteps,
    Echoes,
    done_features,
    lexicon,
    stated_done,
)
from evals._demo import demo_container
from evals.steps import DEMO_KB, first_list, load_cases

L2 = 1.0
THRESHOLD = 0.4  # chosen end to end, leave-one-author-out over four development authors (session 18)


@dataclass
class Rows:
    features: np.ndarray
    done: np.ndarray  # the author's label
    status: np.ndarray  # done, next or other
    author: np.ndarray
    rules: np.ndarray  # what the conversation says before any weighing (``assist.done_steps.stated_done``)


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
            echoed = echoes.done(texts)
            table, _ = done_features(texts, found, echoes, words.lexicon, echoed)
            stated = stated_done(found, echoed, words.lexicon)
            feats.append(table)
            for index, number in enumerate(numbers):
                done.append(number in case.done)
                status.append("done" if number in case.done else "next" if number in case.next else "other")
                author.append(case.author)
                rules.append(index in stated)
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


def end_to_end(data: Rows, thresholds: Sequence[float]) -> Iterator[str]:
    """Per development author and threshold, the steps evaluation's row for that author, the planner using a model
    fitted on the other authors."""
    from unittest import mock

    from evals import steps

    cases = steps.load_cases(["dev"])
    yield "| author | threshold | " + steps.HEAD.split("| ", 3)[3]
    for held in sorted(set(data.author)):
        weights, mean, scale = fit(data.features[data.author != held], data.done[data.author != held])
        for threshold in thresholds:
            model = DoneModel(weights, mean, scale, threshold)
            mine = [case for case in cases if case[1].author == held]
            with (
                mock.patch.object(DoneModel, "bundled", return_value=model),
                mock.patch.object(steps, "load_cases", return_value=mine),
            ):
                table = steps.evaluate(DEMO_KB, split="dev")
            row = next(line for line in table.splitlines() if line.startswith("| dev | all |"))
            yield f"| {held} | {threshold} | " + row.split("| ", 3)[3]


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {DONE_MODEL_PATH}")
    parser.add_argument(
        "--end-to-end", action="store_true", help="each author's steps evaluation, model fitted on the others"
    )
    parser.add_argument("--thresholds", type=float, nargs="+", default=[THRESHOLD])
    args = parser.parse_args(argv)
    data = rows()
    print(f"steps {len(data.done)}: done {int(data.done.sum())}, next {int((data.status == 'next').sum())}")
    for held in sorted(set(data.author)):
        train, test = data.author != held, data.author == held
        weights, mean, scale = fit(data.features[train], data.done[train])
        model = DoneModel(weights, mean, scale, THRESHOLD)
        chosen = model.probabilities(data.features[test]) >= THRESHOLD
        rules, status = data.rules[test], data.status[test]
        print(f"{held}, fitted on the other authors:\n  stated: {counts(rules, status)}\n"
              f"  the model alone: {counts(chosen, status)}\n"
              f"  both (shipped): {counts(rules | chosen, status)}")  # fmt: skip
    if args.end_to_end:
        for line in end_to_end(data, args.thresholds):
            print(line, flush=True)
    weights, mean, scale = fit(data.features, data.done)
    print({name: round(float(w), 3) for name, w in zip(("bias", *DONE_FEATURES), weights, strict=True)})
    if args.write:
        written = {
            "features": list(DONE_FEATURES),
            "weights": [round(float(w), 6) for w in weights],
            "mean": [round(float(m), 6) for m in mean],
            "scale": [round(float(s), 6) for s in scale],
            "threshold": THRESHOLD,
            "fitted_on": f"evals/steps_corpus development split ({', '.join(sorted(set(data.author)))}), "
            "python -m evals._done_fit --write",
        }
        DONE_MODEL_PATH.write_text(json.dumps(written, indent=1) + "\n", encoding="utf-8")
        print(f"written {DONE_MODEL_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
