"""Fit the sarcasm scorer's ranking head on the tweet sets' training splits (a script; development data only).

The drafts' model raises sarcasm issues; it was fitted on agent drafts and ranks tweets no better than chance
(IronITA gold sarcasm AUC 0.48). Fitted into that one model, tweets cost the drafts what they gave the tweets
(session 9, ``evals/_sarcasm_tweets_probe.py``). So here a second logistic model, the ranking head
(``assist.sarcasm.RankHead``), reads the mean of a text's sentence vectors (what the tone check already has) and
only lowers the ``non_sarcastic`` score, by at most ``span``, never raising an issue.

Chosen here, on the training splits of IronITA 2018 (sarcasm) and SemEval-2018 task A (irony), never their gold
tests, and on the development drafts (the held-out authors are never read):

1. the head's L2 weight: 5 random folds over the tweets, the best mean ROC-AUC of the two sets (IronITA is also
   shown by leave-one-source-out, a harder split);
2. how it sets the score: the ``non_sarcastic`` score as the tone check would give it (the phrases, the drafts'
   model, and the head's lowering in place of the irony cues' fitted penalty, beside it or multiplying it), tweets
   scored out of fold, for several ``span``. A row is within bounds when at most ``DROP_SHARE`` of the sincere
   development drafts lose more than ``DROP`` of their overall score (a team's ``min_score`` gate reads it) and
   the development drafts' own ranking does not fall. Shipped: in place of the cues, at the cues' cap (0.15), if
   that row is within bounds (the span scales a ranking the cues no longer mix into).

    .venv/bin/python -m evals._sarcasm_rank            # compare
    .venv/bin/python -m evals._sarcasm_rank --write    # and write the head into prompts/models/sarcasm.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assist.sarcasm import MAX_SENTENCES, MODEL_PATH, SarcasmScorer, shipped_model
from assist.tone import Draft as ToneDraft
from assist.tone import _overall, check_tone, tone_bank, tone_features
from evals._sarcasm_data import IRONITA, IRONITA_FILES, load_drafts, load_ironita
from evals._sarcasm_fit import SEED, VectorCache, sigmoid
from evals._tone_data import IRONY, IRONY_FILES, load_irony
from evals._tone_fit import fit_logistic
from evals._tone_metrics import roc_auc

FOLDS = 5
L2_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)
SPAN_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
COMBINE = ("replace", "product", "max")  # the first is what the tone check does; the others are shown beside it
DROP = 0.05  # a sincere draft losing more than this of its overall score may trip a team's gate
DROP_SHARE = 0.02  # ... and at most this share of the sincere development drafts may


@dataclass(frozen=True)
class Texts:
    texts: list[str]
    languages: list[str]
    y: np.ndarray
    sets: np.ndarray
    groups: np.ndarray  # IronITA's source (its ``topic`` column); "semeval" for the SemEval tweets


def sentences(text: str, language: str) -> list[str]:
    """The sentences the tone check scores (``assist.tone._learned_sarcasm``), keyed as the scorer keys them."""
    draft = ToneDraft.read(text, tone_bank(language), None)
    keys = [text[a:b].strip()[:600] for a, b in draft.spans[:MAX_SENTENCES]]
    return [k for k in keys if k]


def mean_vectors(cache: VectorCache, texts: Sequence[str], languages: Sequence[str]) -> np.ndarray:
    parts = [sentences(t, lang) or [t.strip()[:600] or "."] for t, lang in zip(texts, languages, strict=True)]
    flat = [s for p in parts for s in p]
    vectors = cache.get(flat)
    out, at = np.zeros((len(parts), vectors.shape[1]), dtype=np.float32), 0
    for i, p in enumerate(parts):
        out[i] = vectors[at : at + len(p)].mean(axis=0)
        at += len(p)
    return out


def load_tweets(data: Path) -> Texts:
    ironita = load_ironita(data / IRONITA / IRONITA_FILES["dev"])
    topics = _ironita_topics(data / IRONITA / IRONITA_FILES["dev"])
    semeval = load_irony(data / IRONY / IRONY_FILES["dev"])
    return Texts(
        texts=[t.text for t in ironita] + [i.text for i in semeval],
        languages=["it"] * len(ironita) + ["en"] * len(semeval),
        y=np.array([t.sarcasm for t in ironita] + [i.label > 0 for i in semeval], dtype=float),
        sets=np.array(["ironita"] * len(ironita) + ["semeval"] * len(semeval)),
        groups=np.array(topics + ["semeval"] * len(semeval)),
    )


def _ironita_topics(path: Path) -> list[str]:
    rows = path.read_text(encoding="utf-8").splitlines()[1:]
    return [r.split("\t")[4].strip() if r.count("\t") >= 4 else "" for r in rows if r.strip()]


def set_aucs(scores: np.ndarray, tweets: Texts) -> dict[str, float]:
    return {
        s: roc_auc(scores[m].tolist(), tweets.y[m].tolist())
        for s in ("ironita", "semeval")
        if (m := tweets.sets == s).any()
    }


def out_of_fold(x: np.ndarray, y: np.ndarray, folds: Sequence[np.ndarray], l2: float) -> np.ndarray:
    probs = np.zeros(len(y))
    for held in folds:
        keep = np.setdiff1d(np.arange(len(y)), held)
        w, b = fit_logistic(x[keep], y[keep], l2=l2)
        probs[held] = sigmoid(x[held] @ w + b)
    return probs


class CachedEmbedder:
    """The tone check's scorer reading the evaluation scripts' vector cache (same model, same prefix)."""

    def __init__(self, cache: VectorCache) -> None:
        self.cache = cache

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        return self.cache.get(list(texts))


def reports(
    texts: Sequence[str], languages: Sequence[str], scorer: SarcasmScorer
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Today's ``non_sarcastic`` score of each text (the drafts' model and the cues) and its dimensions."""
    dims = []
    for text, lang in zip(texts, languages, strict=True):
        report = check_tone(text, language=lang, sarcasm=scorer)
        dims.append(report.dimensions.model_dump())
    return np.array([d["non_sarcastic"] for d in dims]), dims


def lowered(non_sarcastic: np.ndarray, lowering: np.ndarray, cues: np.ndarray, combine: str) -> np.ndarray:
    """The score with the head's lowering: ``replace`` (the head's lowering in place of the irony cues' fitted
    penalty, ``cues``), ``max`` (the larger of the two sarcasm strengths, as the drafts' model and the cues
    combine) or ``product`` (independent evidence: the score times ``1 - lowering``)."""
    if combine == "replace":
        return np.clip(non_sarcastic + cues - lowering, 0.0, 1.0)
    if combine == "max":
        return np.minimum(non_sarcastic, 1.0 - lowering)
    return non_sarcastic * (1.0 - lowering)


def cue_penalties(texts: Sequence[str], languages: Sequence[str]) -> np.ndarray:
    """What the irony cues' fitted model takes off ``non_sarcastic`` for each text (``assist.tone._dimensions``)."""
    out = []
    for text, lang in zip(texts, languages, strict=True):
        bank = tone_bank(lang)
        model = bank.models.get("non_sarcastic")
        out.append(model.penalty(tone_features(text, language=lang)) if model else 0.0)
    return np.array(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/eval/data")
    parser.add_argument("--write", action="store_true", help="write the chosen head into the shipped model")
    args = parser.parse_args(argv)
    data = Path(args.data)
    cache = VectorCache(encoder=shipped_model().encoder)  # the vectors the scorer reads
    tweets = load_tweets(data)
    drafts = load_drafts("development")
    print(
        f"{len(tweets.y)} training tweets ({int(tweets.y.sum())} ironic or sarcastic), {len(drafts)} development drafts"
    )
    x = mean_vectors(cache, tweets.texts, tweets.languages)
    d_texts, d_langs = [d.text for d in drafts], [d.language for d in drafts]
    xd = mean_vectors(cache, d_texts, d_langs)
    yd = np.array([d.sarcastic for d in drafts], dtype=float)

    order = np.random.default_rng(SEED).permutation(len(tweets.y))
    folds = [order[k::FOLDS] for k in range(FOLDS)]
    sources = [np.flatnonzero(tweets.groups == g) for g in sorted(set(tweets.groups.tolist()))]
    print("\n1. the head's L2 (tweets out of fold; IronITA also leave-one-source-out)")
    best, l2_chosen, oof_chosen = -1.0, L2_GRID[0], np.zeros(0)
    for l2 in L2_GRID:
        oof = out_of_fold(x, tweets.y, folds, l2)
        aucs = set_aucs(oof, tweets)
        by_source = set_aucs(out_of_fold(x, tweets.y, sources, l2), tweets)
        mean = float(np.mean(list(aucs.values())))
        print(f"  L2 {l2:<5} IronITA {aucs['ironita']:.3f} (by source {by_source['ironita']:.3f}), SemEval "
              f"{aucs['semeval']:.3f}; development drafts {roc_auc(sigmoid(xd @ fit_logistic(x, tweets.y, l2=l2)[0]).tolist(), yd.tolist()):.3f}")  # fmt: skip
        if mean > best:
            best, l2_chosen, oof_chosen = mean, l2, oof
    w, b = fit_logistic(x, tweets.y, l2=l2_chosen)
    p_drafts = sigmoid(xd @ w + b)
    print(f"  chosen L2 {l2_chosen}")

    scorer = SarcasmScorer(CachedEmbedder(cache), model=shipped_model(), cache_size=200_000)
    ns_t, _ = reports(tweets.texts, tweets.languages, scorer)
    ns_d, dims_d = reports(d_texts, d_langs, scorer)
    cues_t, cues_d = cue_penalties(tweets.texts, tweets.languages), cue_penalties(d_texts, d_langs)
    sincere = yd == 0
    threshold = shipped_model().threshold
    print("\n2. the span (tweets out of fold; development drafts: the head fitted on every tweet)")
    base_auc = roc_auc((1 - ns_d).tolist(), yd.tolist())
    cap = float(tone_bank("en").models["non_sarcastic"].cap)  # the same in every language's bank
    within: dict[tuple[str, float], float] = {}  # the rows within bounds: their mean tweet AUC
    for combine, span in ((c, s) for c in COMBINE for s in sorted({*SPAN_GRID, cap})):
        if span >= threshold:
            continue
        tweet_aucs = set_aucs(1 - lowered(ns_t, span * oof_chosen, cues_t, combine), tweets)
        new_d = lowered(ns_d, span * p_drafts, cues_d, combine)
        drops = np.array(
            [
                _overall(dims, bank) - _overall(dims | {"non_sarcastic": float(n)}, bank)
                for dims, n, bank in zip(dims_d, new_d, (tone_bank(lang) for lang in d_langs), strict=True)
            ]
        )
        share = float((drops[sincere] > DROP).mean())
        auc_d = roc_auc((1 - new_d).tolist(), yd.tolist())
        ok = share <= DROP_SHARE and auc_d >= base_auc - 1e-9
        drops = np.maximum(drops, 0.0)
        mean = float(np.mean(list(tweet_aucs.values())))
        print(f"  {combine:<7} span {span:<5} IronITA train {tweet_aucs['ironita']:.3f}, SemEval train {tweet_aucs['semeval']:.3f}; "
              f"drafts AUC {auc_d:.3f} (today {base_auc:.3f}); sincere drafts losing > {DROP} overall {share:.1%}, "
              f"largest loss {drops[sincere].max():.3f}{'' if ok else '  (out of bounds)'}")  # fmt: skip
        if ok:
            within[(combine, span)] = mean
    # The head takes the cues' place at the cues' own cap, if that stays within the bounds above.
    span_chosen = cap if ("replace", cap) in within else 0.0
    top = max(within.items(), key=lambda kv: kv[1])
    print(
        f"  chosen: replace the cues' penalty at their cap, span {span_chosen} (mean tweet AUC "
        f"{within.get(('replace', cap), float('nan')):.3f}; the best row within bounds: {top[0]}, {top[1]:.3f})"
    )
    if args.write:
        model = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
        model["rank"] = (
            {
                "weights": [round(float(v), 6) for v in w],
                "bias": round(b, 6),
                "span": span_chosen,
                "fitted_on": "IronITA 2018 train (sarcasm) and SemEval-2018 task A train (irony): evals/_sarcasm_rank.py",
                "l2": l2_chosen,
            }
            if span_chosen > 0
            else None
        )
        MODEL_PATH.write_text(json.dumps(model, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
