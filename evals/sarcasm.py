"""Sarcasm evaluation of the tone check: today's phrase banks beside the learned scorer (a script, not a test).

    .venv/bin/tactful eval sarcasm --data ../shared/eval/data

- The blind agent drafts (``evals/tone_corpus``), per language: balanced accuracy and false-alarm rate of "this
  draft is sarcastic" (any issue on the ``non_sarcastic`` dimension), on the development authors and on the
  held-out authors, whom nothing was fitted or chosen on. Hard sincere cases are reported apart. Each draft alone
  (as ``POST /v1/tone`` checks it), and the learned check also as the answer to the customer's message (as an
  assist checks it).
- IronITA 2018 (Italian tweets) gold test, SemEval-2018 irony gold test: ROC-AUC of the sarcasm score
  (1 − ``non_sarcastic``).
- Stanford Politeness, StackExchange (held out): false alarms of a serious kind on the polite top quartile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from assist.models import ToneReport
from assist.sarcasm import SarcasmScorer, shipped_model
from assist.tone import check_tone
from evals._sarcasm_data import IRONITA, IRONITA_FILES, LANGUAGES, Draft, load_drafts, load_ironita
from evals._tone_data import IRONY, IRONY_FILES, POLITENESS, POLITENESS_FILES, load_irony, load_politeness, quartiles
from evals._tone_metrics import roc_auc
from evals.tone import SERIOUS

Check = Callable[..., ToneReport]
SARCASM_KINDS = frozenset({"sarcasm", "irony"})


def is_sarcastic(report: ToneReport) -> bool:
    return any(i.dimension == "non_sarcastic" or i.kind in SARCASM_KINDS for i in report.issues)


def checks() -> dict[str, Check]:
    from kb_index.embeddings import SentenceVectors

    scorer = SarcasmScorer(SentenceVectors(encoder_patch=shipped_model().encoder))
    return {
        "phrases (before)": lambda text, lang, name, customer=None: check_tone(text, language=lang, customer_name=name),
        "learned + phrases": lambda text, lang, name, customer=None: check_tone(
            text, language=lang, customer_name=name, sarcasm=scorer, customer_text=customer
        ),
    }


@dataclass(frozen=True)
class Rates:
    items: int
    balanced: float
    recall: float
    false_alarm: float
    hard_false_alarm: float


def rates(drafts: Sequence[Draft], flagged: Sequence[bool]) -> Rates:
    pos = [f for d, f in zip(drafts, flagged, strict=True) if d.sarcastic]
    neg = [f for d, f in zip(drafts, flagged, strict=True) if not d.sarcastic]
    hard = [f for d, f in zip(drafts, flagged, strict=True) if not d.sarcastic and d.hard]
    recall = sum(pos) / max(1, len(pos))
    fa = sum(neg) / max(1, len(neg))
    return Rates(len(drafts), (recall + 1 - fa) / 2, recall, fa, sum(hard) / max(1, len(hard)))


def language_rates(drafts: Sequence[Draft], flagged: Sequence[bool]) -> list[tuple[str, Rates]]:
    """The rates of each language's drafts, then of all."""
    out = []
    for lang in (*LANGUAGES, "all"):
        idx = [i for i, d in enumerate(drafts) if lang in ("all", d.language)]
        out.append((lang, rates([drafts[i] for i in idx], [flagged[i] for i in idx])))
    return out


def corpus_rows(
    check: Check, method: str, *, context: bool = False, parts: dict[str, list[Draft]] | None = None
) -> list[str]:
    """Per split and language; ``context``: the draft is checked as the answer to the customer's message, as the
    assist does (``POST /v1/tone`` alone has none); ``parts``: drafts to score in place of the two splits."""
    rows = []
    if parts is None:
        parts = {part: load_drafts(part) for part in ("development", "held_out")}
    for part, drafts in parts.items():
        flagged = [
            is_sarcastic(check(d.text, d.language, d.customer_name, d.customer_message if context else None))
            for d in drafts
        ]
        for lang, r in language_rates(drafts, flagged):
            rows.append(
                f"| {part.replace('_', ' ')} | {lang} | {r.items} | {method} | {r.balanced:.3f} | {r.recall:.3f} | "
                f"{r.false_alarm:.1%} | {r.hard_false_alarm:.1%} |"
            )
    return rows


def auc_rows(check: Check, method: str, data: Path, *, limit: int) -> list[str]:
    rows = []
    tweets = load_ironita(data / IRONITA / IRONITA_FILES["test"])[: limit or None]
    scores = [1 - check(t.text, "it", None).dimensions.non_sarcastic for t in tweets]
    rows.append(
        f"| IronITA gold (irony) | {len(tweets)} | {method} | {roc_auc(scores, [t.irony for t in tweets]):.3f} |"
    )
    sarcasm_auc = roc_auc(scores, [t.sarcasm for t in tweets])
    rows.append(f"| IronITA gold (sarcasm) | {len(tweets)} | {method} | {sarcasm_auc:.3f} |")
    irony = load_irony(data / IRONY / IRONY_FILES["test"])[: limit or None]
    scores = [1 - check(i.text, "en", None).dimensions.non_sarcastic for i in irony]
    rows.append(
        f"| SemEval-2018 irony gold | {len(irony)} | {method} | {roc_auc(scores, [i.label > 0 for i in irony]):.3f} |"
    )
    return rows


def false_alarm_row(check: Check, method: str, data: Path, *, limit: int) -> str:
    items = load_politeness(data / POLITENESS / POLITENESS_FILES["test"])
    polite = quartiles(items)[1][: limit or None]
    reports = [check(i.text, "en", None) for i in polite]
    serious = sum(any(x.kind in (*SERIOUS, "irony") for x in r.issues) for r in reports)
    sarcastic = sum(is_sarcastic(r) for r in reports)
    return f"| StackExchange polite top quartile | {len(polite)} | {method} | {serious / len(polite):.1%} | {sarcastic / len(polite):.1%} |"


def evaluate(data: Path, *, limit: int = 0) -> str:
    """The tables, as Markdown (``limit`` caps the outside sets, not the corpus)."""
    started = time.perf_counter()
    methods = checks()
    lines = ["| split | language | drafts | method | balanced accuracy | recall | false alarms | on hard sincere |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for method, check in methods.items():
        lines += corpus_rows(check, method)
    with_customer = "learned + phrases, with the customer's message"
    lines += corpus_rows(methods["learned + phrases"], with_customer, context=True)
    lines += ["", "| held-out set | items | method | ROC-AUC |", "|---|---|---|---|"]
    for method, check in methods.items():
        lines += auc_rows(check, method, data, limit=limit)
    lines += ["", "| false alarms | items | method | any serious issue | sarcasm issue |", "|---|---|---|---|---|"]
    for method, check in methods.items():
        lines.append(false_alarm_row(check, method, data, limit=limit))
    lines.append(f"\n({time.perf_counter() - started:.0f} s)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Score some authors' drafts alone (``--authors a15,a16``): how the shipped check does on drafts written
    after it was fitted, before they join any fitting."""
    import argparse

    from evals._sarcasm_data import load_authors

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--authors", required=True, help="comma-separated author folders of evals/tone_corpus")
    args = parser.parse_args(argv)
    drafts = load_authors(args.authors.split(","))
    parts = {args.authors: drafts}
    methods = checks()
    lines = ["| authors | language | drafts | method | balanced accuracy | recall | false alarms | on hard sincere |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for method, check in methods.items():
        lines += corpus_rows(check, method, parts=parts)
    lines += corpus_rows(methods["learned + phrases"], "learned + phrases, with the customer's message", context=True,
                         parts=parts)  # fmt: skip
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
