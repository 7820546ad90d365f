"""The blind agent-draft corpus (``evals/tone_corpus``) and IronITA 2018, for the sarcasm evaluation and fit.

The corpus is split by author (``evals/tone_corpus/split.json``, fixed before anything was written or fitted):
one author's drafts are all development or all held out. IronITA is read from ``../shared/eval/data`` (never
shipped): ``train.tsv`` is development, ``test_gold.tsv`` held out.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "tone_corpus"
IRONITA = "ironita2018"
IRONITA_FILES = {"dev": "train.tsv", "test": "test_gold.tsv"}
LANGUAGES = ("en", "it", "es", "pl")


@dataclass(frozen=True)
class Draft:
    """One agent reply of the corpus with its labels (``span``: the part that carries the sarcasm)."""

    id: str
    author: str
    language: str
    situation: str
    customer_name: str | None
    customer_message: str
    text: str
    sarcastic: bool
    span: str | None
    hard: bool
    labels: dict[str, bool]

    @property
    def span_range(self) -> tuple[int, int] | None:
        if not self.span:
            return None
        start = self.text.find(self.span)
        return None if start < 0 else (start, start + len(self.span))


def split() -> dict[str, list[str]]:
    data: dict[str, list[str]] = json.loads((CORPUS / "split.json").read_text(encoding="utf-8"))
    return {"development": data["development"], "held_out": data["held_out"]}


def load_drafts(part: str, *, corpus: Path = CORPUS) -> list[Draft]:
    """The drafts of the ``development`` or ``held_out`` authors, in file order."""
    return load_authors(split()[part], corpus=corpus)


def load_authors(authors: Sequence[str], *, corpus: Path = CORPUS) -> list[Draft]:
    """The drafts of ``authors`` (folders of the corpus), in file order."""
    drafts = []
    for author in authors:
        for language in LANGUAGES:
            path = corpus / author / f"{language}.jsonl"
            if not path.exists():
                continue
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    drafts.append(_draft(json.loads(line), author))
    return drafts


def _draft(row: dict[str, object], author: str) -> Draft:
    return Draft(
        id=str(row["id"]),
        author=author,
        language=str(row["language"]),
        situation=str(row["situation"]),
        customer_name=row.get("customer_name") or None,  # type: ignore[arg-type]
        customer_message=str(row.get("customer_message") or ""),
        text=str(row["draft"]),
        sarcastic=bool(row["sarcastic"]),
        span=row.get("sarcastic_span") or None,  # type: ignore[arg-type]
        hard=bool(row.get("hard_case")),
        labels={k: bool(row[k]) for k in ("calm", "professional", "personalised", "empathetic") if k in row},
    )


@dataclass(frozen=True)
class Tweet:
    text: str
    irony: bool
    sarcasm: bool


def load_ironita(path: Path) -> list[Tweet]:
    """IronITA tweets: ``id, text, irony, sarcasm, topic`` (tab-separated, with a header)."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [Tweet(r["text"], float(r["irony"]) > 0, float(r["sarcasm"]) > 0) for r in rows if r.get("text")]
