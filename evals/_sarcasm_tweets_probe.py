"""Can the sarcasm scorer learn from the public tweet sets' training splits? (a script; development data only)

The shipped scorer is fitted on agent drafts; it ranks IronITA's Italian tweets no better than chance (gold test
sarcasm AUC 0.48). Here, on the training splits only (IronITA ``train.tsv``, SemEval-2018 task A train; the gold
tests are never read):

1. how far a logistic model over the bundled e5 vectors can rank tweets at all (5 folds within each set);
2. whether adding the tweets to the drafts' training moves the drafts' out-of-fold figures (leave one author out)
   and the tweets' own (5 folds), with the tweets weighted against the drafts.

    .venv/bin/python -m evals._sarcasm_tweets_probe
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assist.sarcasm import design
from evals._sarcasm_data import IRONITA, IRONITA_FILES, load_drafts, load_ironita
from evals._sarcasm_fit import (
    CONTEXT_DROPOUT,
    FALSE_ALARM_BUDGET,
    SEED,
    VectorCache,
    contexts,
    draft_scores,
    draft_sentences,
    polite_requests,
    rates,
    shipped_design,
    sigmoid,
    threshold_for,
)
from evals._tone_data import IRONY, IRONY_FILES, load_irony
from evals._tone_fit import fit_logistic
from evals._tone_metrics import roc_auc

FOLDS = 5
L2 = 0.1


def folds(n: int, k: int = FOLDS) -> list[np.ndarray]:
    order = np.random.default_rng(SEED).permutation(n)
    return [order[i::k] for i in range(k)]


def weighted_fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """``fit_logistic`` with a weight per row (Newton's method, bias unpenalised)."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    penalty = np.r_[np.full(d, l2), 0.0]
    theta = np.zeros(d + 1)
    for _ in range(100):
        p = sigmoid(xb @ theta)
        gradient = xb.T @ (weight * (p - y)) + penalty * theta
        hessian = xb.T @ (xb * (weight * p * (1 - p))[:, None]) + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if float(np.abs(step).max()) < 1e-9:
            break
    return theta[:d], float(theta[d])


def tweet_rows(cache: VectorCache, texts: Sequence[str]) -> np.ndarray:
    vecs = cache.get(list(texts))
    return np.vstack([design(v[None], None) for v in vecs])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/eval/data")
    args = parser.parse_args(argv)
    data = Path(args.data)
    cache = VectorCache()
    ironita = load_ironita(data / IRONITA / IRONITA_FILES["dev"])
    semeval = load_irony(data / IRONY / IRONY_FILES["dev"])
    print(f"IronITA train {len(ironita)} tweets ({sum(t.sarcasm for t in ironita)} sarcastic), "
          f"SemEval train {len(semeval)} ({sum(i.label > 0 for i in semeval)} ironic)", flush=True)  # fmt: skip
    it_x = tweet_rows(cache, [t.text for t in ironita])
    it_y = np.array([t.sarcasm for t in ironita], dtype=float)
    it_irony = np.array([t.irony for t in ironita], dtype=float)
    se_x = tweet_rows(cache, [i.text for i in semeval])
    se_y = np.array([i.label > 0 for i in semeval], dtype=float)

    # 1. tweets alone, within each set
    for name, x, y in (
        ("IronITA sarcasm", it_x, it_y),
        ("IronITA irony", it_x, it_irony),
        ("SemEval irony", se_x, se_y),
    ):
        for l2 in (0.03, 0.1, 0.3, 1.0):
            probs = np.zeros(len(y))
            for held in folds(len(y)):
                train = np.setdiff1d(np.arange(len(y)), held)
                w, b = fit_logistic(x[train][:, :384], y[train], l2=l2)
                probs[held] = sigmoid(x[held][:, :384] @ w + b)
            print(f"  alone: {name:<16} L2 {l2:<5} AUC {roc_auc(probs.tolist(), y.tolist()):.3f}", flush=True)

    # 2. drafts + tweets
    drafts = load_drafts("development")
    sents = draft_sentences(drafts)
    vecs = cache.get([s.text for s in sents])
    x = shipped_design(drafts, sents, vecs, contexts(drafts, cache, dropout=CONTEXT_DROPOUT))
    test_with = shipped_design(drafts, sents, vecs, contexts(drafts, cache, dropout=0.0))
    test_without = shipped_design(drafts, sents, vecs, contexts(drafts, cache, dropout=1.0))
    requests = polite_requests(data, cache)
    labels_d = np.array([d.sarcastic for d in drafts])
    authors = sorted({d.author for d in drafts})
    tweets_x = np.vstack([it_x, se_x])
    tweets_y = np.r_[it_y, se_y]
    tweet_folds = folds(len(tweets_y))
    for weight in (0.0, 0.3, 1.0):
        with_p, without_p = np.zeros(len(sents)), np.zeros(len(sents))
        for author in authors:
            train = [i for i, s in enumerate(sents) if s.label is not None and drafts[s.draft].author != author]
            held = [i for i, s in enumerate(sents) if drafts[s.draft].author == author]
            xs = [x[train], requests.train]
            ys = [np.array([sents[i].label for i in train], dtype=float), np.zeros(len(requests.train))]
            ws = [np.full(len(train), 1.0), np.full(len(requests.train), 1.0)]
            if weight:
                xs.append(tweets_x)
                ys.append(tweets_y)
                ws.append(np.full(len(tweets_y), weight))
            w, b = weighted_fit(np.vstack(xs), np.concatenate(ys), np.concatenate(ws), L2)
            with_p[held] = sigmoid(test_with[held] @ w + b)
            without_p[held] = sigmoid(test_without[held] @ w + b)
        out = []
        for label, probs in (("with", with_p), ("without", without_p)):
            scores = draft_scores(sents, probs, len(drafts))
            t = threshold_for(scores, labels_d, FALSE_ALARM_BUDGET)
            ba = rates(scores, labels_d, t)[0]
            out.append(f"{label} customer: AUC {roc_auc(scores.tolist(), labels_d.tolist()):.3f} BA {ba:.3f}")
        tweet_probs = np.zeros(len(tweets_y))
        if weight:
            for held in tweet_folds:
                train_t = np.setdiff1d(np.arange(len(tweets_y)), held)
                train = [i for i, s in enumerate(sents) if s.label is not None]
                w, b = weighted_fit(
                    np.vstack([x[train], requests.train, tweets_x[train_t]]),
                    np.concatenate([np.array([sents[i].label for i in train], dtype=float),
                                    np.zeros(len(requests.train)), tweets_y[train_t]]),
                    np.concatenate([np.full(len(train), 1.0), np.full(len(requests.train), 1.0),
                                    np.full(len(train_t), weight)]),
                    L2,
                )  # fmt: skip
                tweet_probs[held] = sigmoid(tweets_x[held] @ w + b)
        else:
            train = [i for i, s in enumerate(sents) if s.label is not None]
            w, b = weighted_fit(
                np.vstack([x[train], requests.train]),
                np.r_[np.array([sents[i].label for i in train], dtype=float), np.zeros(len(requests.train))],
                np.full(len(train) + len(requests.train), 1.0), L2,
            )  # fmt: skip
            tweet_probs = sigmoid(tweets_x @ w + b)
        n_it = len(it_y)
        it_auc = roc_auc(tweet_probs[:n_it].tolist(), it_y.tolist())
        se_auc = roc_auc(tweet_probs[n_it:].tolist(), se_y.tolist())
        print(f"  drafts + tweets x{weight:<4}: drafts {'; '.join(out)}; IronITA sarcasm AUC {it_auc:.3f}, "
              f"SemEval AUC {se_auc:.3f}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
