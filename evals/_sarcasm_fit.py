"""Fit the tone check's learned sarcasm scorer on the development authors of the blind corpus (a script).

Each draft is cut into sentences (``assist.text.sentence_spans``, semicolons included, as the tone check cuts them); a sentence of a sarcastic draft that overlaps
the author's marked span is sarcastic, every sentence of a sincere draft is not (the other sentences of a
sarcastic draft are left out: the author marked only the strongest part). A sentence is read through
``assist.sarcasm.design``: its e5 vector (language-neutral, the bundled model), the mean vector of its draft, and
the vector of the customer's message, dropped for half of the training drafts so that the model also works when
no customer message is known (``POST /v1/tone`` alone). A draft scores its most sarcastic sentence.

Agent drafts alone taught the model to suspect every question and request (half of the polite Wikipedia requests
of Stanford Politeness, its development split, were flagged): half of those polite requests join the training as
sincere text, and the other half are kept out to check the false alarms the threshold may cost.

Candidates are compared by leave-one-author-out cross-validation on the development authors only, and the
threshold is chosen on the pooled out-of-fold scores (a false-alarm budget on sincere drafts). The held-out
authors are never read here.

    .venv/bin/python -m evals._sarcasm_fit            # compare the candidates
    .venv/bin/python -m evals._sarcasm_fit --write    # and write the chosen model to prompts/models/sarcasm.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assist.sarcasm import MODEL_PATH, design
from assist.text import sentence_spans
from assist.tone import ambiguous_finding, check_tone
from assist.tone_bank import tone_bank
from evals._sarcasm_data import IRONITA, IRONITA_FILES, Draft, load_drafts, load_ironita
from evals._tone_data import IRONY, IRONY_FILES, POLITENESS, POLITENESS_FILES, load_irony, load_politeness
from evals._tone_fit import fit_logistic
from evals._tone_metrics import roc_auc
from kb_index.e5_image import patch_digest

CACHE = Path(".tactful") / "eval-cache" / "sentence-vectors.npz"
FALSE_ALARM_BUDGET = 0.03  # on development sincere drafts, so that held-out stays under the 5% target
REQUEST_BUDGET = 0.02  # on the polite Wikipedia requests kept out of training (serious false alarms ≤ 3% target)
L2_GRID = (0.03, 0.1, 0.3)
QUICK_L2 = 0.1  # the choice of the full comparison (session 4)
TWEET_WEIGHT = 0.0  # how much a training tweet counts (evals/_sarcasm_tweets_probe.py; 0: drafts alone)


@dataclass(frozen=True)
class Sentence:
    draft: int  # index into the drafts list
    text: str
    label: bool | None  # None: left out of fitting (a sarcastic draft's sentence outside the marked span)


def draft_sentences(drafts: Sequence[Draft]) -> list[Sentence]:
    out = []
    for i, d in enumerate(drafts):
        span = d.span_range
        for start, end in sentence_spans(d.text, semicolons=True):
            if not d.sarcastic:
                label: bool | None = False
            elif span is None:
                label = None
            else:
                label = True if start < span[1] and span[0] < end else None
            out.append(Sentence(i, d.text[start:end], label))
    return out


class VectorCache:
    """Sentence vectors by text, kept on disk between runs of the evaluation scripts."""

    def __init__(self, path: Path = CACHE, *, encoder: Path | None = None) -> None:
        """``encoder``: a fine-tuned patch the vectors come from (``assist.sarcasm.SarcasmModel.encoder``); its
        vectors are kept in a file of their own, named after the patch's content."""
        if encoder is not None and path == CACHE:
            path = CACHE.with_name(f"{CACHE.stem}-{patch_digest(encoder)}.npz")
        self.path = path
        self.encoder = encoder
        self.vectors: dict[str, np.ndarray] = {}
        if path.exists():
            try:
                with np.load(path) as data:
                    self.vectors = {k: data[k] for k in data.files}
            except (OSError, ValueError, zipfile.BadZipFile):  # a damaged cache is only a cache
                self.vectors = {}
        self._embedder: object | None = None

    def get(self, texts: Sequence[str]) -> np.ndarray:
        missing = sorted({t for t in texts if _key(t) not in self.vectors})
        if missing:
            from kb_index.embeddings import SentenceVectors

            embedder = SentenceVectors(encoder_patch=self.encoder)
            for start in range(0, len(missing), 64):
                batch = missing[start : start + 64]
                for text, vec in zip(batch, embedder.embed_sentences(batch), strict=True):
                    self.vectors[_key(text)] = vec
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(f"{self.path.stem}.{os.getpid()}.partial.npz")
            np.savez(partial, **self.vectors)
            partial.replace(self.path)  # atomic: a concurrent reader sees the old file or the new one
        return np.vstack([self.vectors[_key(t)] for t in texts]) if texts else np.zeros((0, 384), np.float32)


def _key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


CONTEXT_DROPOUT = 0.5
SEED = 20261130
Featurize = Callable[[Sequence[Draft], Sequence[Sentence], np.ndarray, np.ndarray], np.ndarray]


def sentence_only(drafts: Sequence[Draft], sents: Sequence[Sentence], vectors: np.ndarray, _: np.ndarray) -> np.ndarray:
    """The sentence's own vector (the first candidate: no draft, no customer message)."""
    return vectors


def shipped_design(
    drafts: Sequence[Draft], sents: Sequence[Sentence], vectors: np.ndarray, contexts: np.ndarray
) -> np.ndarray:
    """``assist.sarcasm.design`` per draft; ``contexts`` holds a zero row where the customer message is dropped."""
    rows = np.zeros((len(sents), 3 * vectors.shape[1]), dtype=np.float32)
    by_draft: dict[int, list[int]] = {}
    for i, s in enumerate(sents):
        by_draft.setdefault(s.draft, []).append(i)
    for d, idx in by_draft.items():
        ctx = contexts[d] if contexts[d].any() else None
        rows[idx] = design(vectors[idx], ctx)
    return rows


SHIPPED = "sentence+draft+customer"
CANDIDATES: dict[str, Featurize] = {"sentence": sentence_only, SHIPPED: shipped_design}


def draft_scores(sents: Sequence[Sentence], probs: np.ndarray, n_drafts: int) -> np.ndarray:
    scores = np.zeros(n_drafts)
    for s, p in zip(sents, probs, strict=True):
        scores[s.draft] = max(scores[s.draft], p)
    return scores


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def out_of_fold(
    drafts: Sequence[Draft],
    sents: Sequence[Sentence],
    x: np.ndarray,
    *,
    l2: float,
    test: np.ndarray | None = None,
    extra: np.ndarray | None = None,
    tweets: Tweets | None = None,
) -> np.ndarray:
    """Sentence probabilities, each from a model fitted without its author's drafts (scored on ``test``);
    ``extra``: sincere sentences from outside the corpus, ``tweets``: labelled tweets, both in every fold's
    training."""
    return out_of_fold_all(drafts, sents, x, l2=l2, tests=[x if test is None else test], extra=extra, tweets=tweets)[0]


def out_of_fold_all(
    drafts: Sequence[Draft],
    sents: Sequence[Sentence],
    x: np.ndarray,
    *,
    l2: float,
    tests: Sequence[np.ndarray],
    extra: np.ndarray | None = None,
    tweets: Tweets | None = None,
) -> list[np.ndarray]:
    """``out_of_fold`` for several test designs at once (one fit per author)."""
    probs = [np.zeros(len(sents)) for _ in tests]
    for author in sorted({d.author for d in drafts}):
        train = [i for i, s in enumerate(sents) if s.label is not None and drafts[s.draft].author != author]
        held = [i for i, s in enumerate(sents) if drafts[s.draft].author == author]
        y = np.array([sents[i].label for i in train], dtype=float)
        w, b = _fit(x[train], y, l2=l2, extra=extra, tweets=tweets)
        for out, test in zip(probs, tests, strict=True):
            out[held] = sigmoid(test[held] @ w + b)
    return probs


@dataclass(frozen=True)
class Tweets:
    """Labelled tweets from the public sets' training splits (IronITA 2018: sarcasm; SemEval-2018 task A: irony),
    each read as a one-sentence draft with no customer message; ``weight``: how much a tweet counts against a
    draft sentence (chosen on development by ``evals/_sarcasm_tweets_probe.py``)."""

    x: np.ndarray
    y: np.ndarray
    weight: float
    sets: np.ndarray  # which set each tweet is from: "ironita" or "semeval"
    texts: list[str]


def load_tweets(data: Path, cache: VectorCache, weight: float) -> Tweets:
    ironita = load_ironita(data / IRONITA / IRONITA_FILES["dev"])
    semeval = load_irony(data / IRONY / IRONY_FILES["dev"])
    texts = [t.text for t in ironita] + [i.text for i in semeval]
    x = np.vstack([design(v[None], None) for v in cache.get(texts)])
    y = np.array([t.sarcasm for t in ironita] + [i.label > 0 for i in semeval], dtype=float)
    sets = np.array(["ironita"] * len(ironita) + ["semeval"] * len(semeval))
    return Tweets(x, y, weight, sets, texts)


TWEET_FOLDS = 5
SCORE_FROM_GRID = (0.0, 0.3, 0.5, 0.7, 0.9)


def choose_score_from(
    tweets: Tweets, x: np.ndarray, y: np.ndarray, extra: np.ndarray, *, l2: float, threshold: float
) -> float | None:
    """From which probability the model lowers the ``non_sarcastic`` score (None: from its threshold), chosen on
    the tweets' training splits: each tweet scored by a model fitted with every draft but without its fold of
    tweets, then ``1 - non_sarcastic`` as the tone check would set it (the irony cues, raised to the probability
    from ``score_from``), ranked against the labels; the best mean ROC-AUC over the two sets."""
    probs = np.zeros(len(tweets.y))
    order = np.random.default_rng(SEED).permutation(len(tweets.y))
    for k in range(TWEET_FOLDS):
        held = order[k::TWEET_FOLDS]
        keep = np.setdiff1d(np.arange(len(tweets.y)), held)
        fold = Tweets(tweets.x[keep], tweets.y[keep], tweets.weight, tweets.sets[keep], [])
        w, b = _fit(x, y, l2=l2, extra=extra, tweets=fold)
        probs[held] = sigmoid(tweets.x[held][:, : x.shape[1]] @ w + b)
    language = {"ironita": "it", "semeval": "en"}
    cues = np.array(
        [1 - check_tone(t, language=language[str(s)]).dimensions.non_sarcastic for t, s in zip(tweets.texts, tweets.sets, strict=True)]
    )  # fmt: skip
    best, chosen = -1.0, None
    for floor in (*SCORE_FROM_GRID, None):
        at = threshold if floor is None else floor
        scores = np.maximum(cues, np.where(probs >= at, probs, 0.0))
        aucs = {
            name: roc_auc(scores[m].tolist(), tweets.y[m].tolist())
            for name in ("ironita", "semeval")
            if (m := tweets.sets == name).any()
        }
        mean = float(np.mean(list(aucs.values())))
        label = "the threshold (gated)" if floor is None else f"{floor}"
        print(f"  non_sarcastic from {label:<22} IronITA train AUC {aucs['ironita']:.3f}, SemEval train AUC "
              f"{aucs['semeval']:.3f} (tweets out of fold)")  # fmt: skip
        if mean > best + 1e-9:
            best, chosen = mean, floor
    return chosen


def _fit(
    x: np.ndarray, y: np.ndarray, *, l2: float, extra: np.ndarray | None, tweets: Tweets | None = None
) -> tuple[np.ndarray, float]:
    weights = np.ones(len(y))
    if extra is not None and len(extra):
        x, y, weights = np.vstack([x, extra]), np.r_[y, np.zeros(len(extra))], np.r_[weights, np.ones(len(extra))]
    if tweets is not None and tweets.weight > 0:
        x, y = np.vstack([x, tweets.x[:, : x.shape[1]]]), np.r_[y, tweets.y]
        weights = np.r_[weights, np.full(len(tweets.y), tweets.weight)]
    return fit_logistic(x, y, l2=l2, weights=weights)


@dataclass(frozen=True)
class Requests:
    """Polite requests from Stanford Politeness' Wikipedia split (development), as sincere text that is not an
    agent reply: questions and requests of every kind, which the corpus alone taught the model to suspect.
    ``train`` rows join every fold's training; the ``check`` half is only scored, for the false-alarm budget."""

    train: np.ndarray  # design rows (no customer message)
    check: list[np.ndarray]  # per request, its design rows


def polite_requests(data: Path, cache: VectorCache) -> Requests:
    items = load_politeness(data / POLITENESS / POLITENESS_FILES["dev"])
    median = float(np.median([i.label for i in items]))
    polite = [i.text for i in items if i.label >= median]
    train: list[np.ndarray] = []
    check: list[np.ndarray] = []
    split = [[text[a:b] for a, b in sentence_spans(text, semicolons=True)] or [text] for text in polite]
    cache.get(
        [t for parts in split for t in parts]
    )  # embeds what is missing in one go (the cache file is rewritten per call)
    for k, parts in enumerate(split):
        rows = design(cache.get(parts), None)
        (train.append(rows) if k % 2 == 0 else check.append(rows))
    return Requests(np.vstack(train), check)


def request_false_alarms(requests: Requests, w: np.ndarray, b: float, threshold: float) -> float:
    flagged = [float(sigmoid(rows @ w + b).max()) >= threshold for rows in requests.check]
    return sum(flagged) / max(1, len(flagged))


def phrase_hits(drafts: Sequence[Draft], sents: Sequence[Sentence]) -> np.ndarray:
    """What today's phrase banks find in each sentence (the tone check alone), as ``check_tone`` weighs it with
    the scorer: 0 nothing, 1 a phrase that always counts, 2 only ambiguous words (the rule's ``confirm`` list,
    "obviously"), which count when the scorer supports the sentence."""
    hits = np.zeros(len(sents), dtype=int)
    first: dict[int, int] = {}
    for i, s in enumerate(sents):
        first.setdefault(s.draft, i)
    for d_index, d in enumerate(drafts):
        bank = tone_bank(d.language)
        spans = list(sentence_spans(d.text, semicolons=True))
        for issue in check_tone(d.text, language=d.language, customer_name=d.customer_name).issues:
            if issue.dimension != "non_sarcastic":
                continue
            k = next((k for k, (a, b) in enumerate(spans) if a <= issue.start < b), len(spans) - 1)
            at = first[d_index] + k
            kind = 2 if ambiguous_finding(bank, issue.kind, d.text, issue.start, issue.end, spans[k][1]) else 1
            hits[at] = 1 if 1 in (hits[at], kind) else 2
    return hits


def combined(
    sents: Sequence[Sentence], probs: np.ndarray, hits: np.ndarray, n: int, *, threshold: float, floor: float
) -> np.ndarray:
    """Draft decisions as the tone check makes them: a sentence the model flags, a phrase, or an ambiguous word
    in a sentence the model gives at least ``floor``."""
    flagged = np.zeros(n, dtype=bool)
    for s, p, hit in zip(sents, probs, hits, strict=True):
        if p >= threshold or hit == 1 or (hit == 2 and p >= floor):
            flagged[s.draft] = True
    return flagged


def threshold_for(scores: np.ndarray, labels: np.ndarray, budget: float) -> float:
    """The lowest threshold whose false-alarm rate on sincere drafts is within ``budget``."""
    sincere = np.sort(scores[~labels])
    allowed = int(np.floor(budget * len(sincere)))
    return float(sincere[len(sincere) - 1 - allowed] + 1e-6) if len(sincere) else 0.5


def rates(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float, float]:
    flagged = scores >= threshold
    recall = float(flagged[labels].mean()) if labels.any() else 0.0
    false_alarm = float(flagged[~labels].mean()) if (~labels).any() else 0.0
    return (recall + 1 - false_alarm) / 2, recall, false_alarm


def contexts(drafts: Sequence[Draft], cache: VectorCache, *, dropout: float) -> np.ndarray:
    """The customer-message vector of each draft, zero for a seeded ``dropout`` share of them (and when empty)."""
    vectors = cache.get([d.customer_message or "." for d in drafts])
    keep = np.random.default_rng(SEED).random(len(drafts)) >= dropout
    empty = np.array([not d.customer_message.strip() for d in drafts])
    return np.where((keep & ~empty)[:, None], vectors, 0.0).astype(np.float32)


def compare(
    drafts: Sequence[Draft],
    cache: VectorCache,
    requests: Requests,
    *,
    tweets: Tweets | None = None,
    candidates: Sequence[str] = tuple(CANDIDATES),
    l2_grid: Sequence[float] = L2_GRID,
) -> tuple[str, float, float, float]:
    sents = draft_sentences(drafts)
    texts = [s.text for s in sents]
    vectors = cache.get(texts)
    labels = np.array([d.sarcastic for d in drafts])
    train_ctx = contexts(drafts, cache, dropout=CONTEXT_DROPOUT)
    test_ctx = {"with": contexts(drafts, cache, dropout=0.0), "without": np.zeros_like(train_ctx)}
    best: tuple[str, float, float, float] = ("", 0.0, 0.0, -1.0)
    print(f"development: {len(drafts)} drafts, {len(sents)} sentences "
          f"({sum(s.label is True for s in sents)} sarcastic, {sum(s.label is False for s in sents)} sincere)")  # fmt: skip
    hits = phrase_hits(drafts, sents)
    today = combined(sents, np.zeros(len(sents)), hits, len(drafts), threshold=2.0, floor=0.0)
    print(f"  phrases only (today): BA {_ba(today, labels):.3f}, recall {today[labels].mean():.3f}, "
          f"FA {today[~labels].mean():.3f}")  # fmt: skip
    best_probs = np.zeros(len(sents))
    for name in candidates:
        featurize = CANDIDATES[name]
        x = featurize(drafts, sents, vectors, train_ctx)
        extra = requests.train[:, : x.shape[1]]
        for l2 in l2_grid:
            tests = {k: featurize(drafts, sents, vectors, c) for k, c in test_ctx.items()}
            probs, without_probs = out_of_fold_all(
                drafts, sents, x, l2=l2, tests=[tests["with"], tests["without"]], extra=extra, tweets=tweets
            )
            without = draft_scores(sents, without_probs, len(drafts))
            scores = draft_scores(sents, probs, len(drafts))
            print(f"  {name}, l2={l2}, no customer message: AUC {roc_auc(without.tolist(), labels.tolist()):.3f}, "
                  f"BA {rates(without, labels, threshold_for(without, labels, FALSE_ALARM_BUDGET))[0]:.3f}")  # fmt: skip
            threshold = threshold_for(scores, labels, FALSE_ALARM_BUDGET)
            ba, recall, fa = rates(scores, labels, threshold)
            auc = roc_auc(scores.tolist(), labels.tolist())
            per_lang = " ".join(
                f"{lang}:{rates(scores[m], labels[m], threshold)[0]:.3f}"
                for lang in ("en", "it", "es", "pl")
                if (m := np.array([d.language == lang for d in drafts])).any()
            )
            print(f"  {name:<11} l2={l2:<5} AUC {auc:.3f}  BA {ba:.3f} (recall {recall:.3f}, FA {fa:.3f})  {per_lang}")
            if name == SHIPPED and ba > best[3]:  # the product reads sentences through assist.sarcasm.design
                best, best_probs = (name, l2, threshold, ba), probs
    fit = [i for i, s in enumerate(sents) if s.label is not None]
    x = shipped_design(drafts, sents, vectors, train_ctx)
    w, b = _fit(
        x[fit], np.array([sents[i].label for i in fit], dtype=float), l2=best[1], extra=requests.train, tweets=tweets
    )
    threshold, floor = choose_threshold(
        sents, best_probs, hits, labels, threshold=best[2], requests=lambda t: request_false_alarms(requests, w, b, t)
    )
    return best[0], best[1], threshold, floor


FLOOR_GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.01)


def choose_threshold(
    sents: Sequence[Sentence],
    probs: np.ndarray,
    hits: np.ndarray,
    labels: np.ndarray,
    *,
    threshold: float,
    requests: Callable[[float], float],
) -> tuple[float, float]:
    """The threshold and the ambiguous words' floor chosen together on the tone check's whole decision (the
    model's sentences and the phrases), out of fold: the best balanced accuracy within the false-alarm budget."""
    best, chosen = -1.0, (threshold, 1.01)
    grid = sorted({round(float(t), 3) for t in np.quantile(probs, np.linspace(0.80, 0.999, 80))} | {threshold})
    request_fa = {t: requests(t) for t in grid}
    for floor in FLOOR_GRID:
        for t in grid:
            flagged = combined(sents, probs, hits, len(labels), threshold=t, floor=floor)
            ba, fa = _ba(flagged, labels), float(flagged[~labels].mean())
            if fa <= FALSE_ALARM_BUDGET and request_fa[t] <= REQUEST_BUDGET and ba > best:
                best, chosen = ba, (t, floor)
    t, floor = chosen
    print(f"  polite Wikipedia requests kept out of training flagged at {t:.3f}: {requests(t):.1%}")
    flagged = combined(sents, probs, hits, len(labels), threshold=t, floor=floor)
    print(f"  model + phrases: threshold {t:.3f}, ambiguous words need {floor}: BA {_ba(flagged, labels):.3f}, "
          f"recall {flagged[labels].mean():.3f}, FA {flagged[~labels].mean():.3f}")  # fmt: skip
    return chosen


def _ba(flagged: np.ndarray, labels: np.ndarray) -> float:
    return float((flagged[labels].mean() + 1 - flagged[~labels].mean()) / 2)


def fit_final(
    drafts: Sequence[Draft],
    cache: VectorCache,
    requests: Requests,
    *,
    name: str,
    l2: float,
    threshold: float,
    floor: float,
    tweets: Tweets | None = None,
) -> dict[str, object]:
    sents = draft_sentences(drafts)
    x = CANDIDATES[name](
        drafts, sents, cache.get([s.text for s in sents]), contexts(drafts, cache, dropout=CONTEXT_DROPOUT)
    )
    fit = [i for i, s in enumerate(sents) if s.label is not None]
    w, b = _fit(
        x[fit], np.array([sents[i].label for i in fit], dtype=float), l2=l2, extra=requests.train, tweets=tweets
    )
    score_from = None
    if tweets is not None and tweets.weight > 0:
        y = np.array([sents[i].label for i in fit], dtype=float)
        score_from = choose_score_from(tweets, x[fit], y, requests.train, l2=l2, threshold=threshold)
    note = ("Fitted by evals/_sarcasm_fit.py on the development authors of evals/tone_corpus, with half of the polite "
            "Wikipedia requests of Stanford Politeness (development split) as sincere text"
            + (f", and the training tweets of IronITA 2018 (sarcasm) and SemEval-2018 task A (irony), each counting "
               f"{tweets.weight} of a draft sentence." if tweets and tweets.weight else "."))  # fmt: skip
    return model_file(
        note, name=name, l2=l2, threshold=threshold, floor=floor, weights=w, bias=b, score_from=score_from
    )


def model_file(
    note: str,
    *,
    name: str,
    l2: float,
    threshold: float,
    floor: float,
    weights: np.ndarray,
    bias: float,
    encoder: str | None = None,
    score_from: float | None = None,
) -> dict[str, object]:
    """The shape of ``prompts/models/sarcasm.json`` (read by ``assist.sarcasm.SarcasmModel.load``). The ranking
    head (``rank``) is fitted over the same vectors by ``evals._sarcasm_rank --write``, to run again after this
    file is written (``tests/test_sarcasm.py`` fails on a shipped model without one)."""
    model: dict[str, object] = {"_note": note, "features": name}
    if encoder:
        model["encoder"] = encoder
    if score_from is not None:
        model["score_from"] = score_from
    return model | {
        "context_dropout": CONTEXT_DROPOUT,
        "l2": l2,
        "threshold": round(threshold, 4),
        "confirm_floor": floor,
        "bias": round(bias, 6),
        "weights": [round(float(v), 6) for v in weights],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the chosen model to prompts/models/sarcasm.json")
    parser.add_argument("--data", default="../shared/eval/data", help="the shared evaluation data (politeness)")
    parser.add_argument("--tweets", type=float, default=TWEET_WEIGHT, help="weight of a training tweet (0: none)")
    parser.add_argument("--quick", action="store_true", help=f"compare only {SHIPPED} at l2 {QUICK_L2}")
    args = parser.parse_args(argv)
    drafts = load_drafts("development")
    cache = VectorCache()
    requests = polite_requests(Path(args.data), cache)
    tweets = load_tweets(Path(args.data), cache, args.tweets) if args.tweets > 0 else None
    grid = {"candidates": (SHIPPED,), "l2_grid": (QUICK_L2,)} if args.quick else {}
    name, l2, threshold, floor = compare(drafts, cache, requests, tweets=tweets, **grid)
    print(f"chosen: {name}, l2={l2}, draft threshold {threshold:.4f} (false alarms ≤ {FALSE_ALARM_BUDGET:.0%} "
          f"out of fold), ambiguous words need {floor}")  # fmt: skip
    if args.write:
        model = fit_final(drafts, cache, requests, name=name, l2=l2, threshold=threshold, floor=floor, tweets=tweets)
        MODEL_PATH.write_text(json.dumps(model) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
