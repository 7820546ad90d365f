"""How well careful blind readers tell sarcastic drafts from sincere ones, beside the shipped check on the same drafts.

Three readers (``evals/tone_corpus/readers/``: helper sessions that saw only the drafts and the label definitions)
labelled 240 development drafts. Their balanced accuracy against the authors' labels is a ceiling for issue 9's
target (0.90 per language): what a reader reaches on these drafts, so what the labels allow. The shipped check is
scored on the same drafts for scale; every one of them was in its training data, so its figure here is in-sample,
an upper bound on what it does on drafts it has not seen (``tactful eval sarcasm`` gives those).

    .venv/bin/python -m evals.sarcasm_readers
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from evals._sarcasm_data import CORPUS, Draft, load_drafts

READERS = CORPUS / "readers"


def load_sample(folder: Path = READERS) -> dict[str, str]:
    """The readers' ids (``rid``) and the corpus draft each stands for."""
    data = json.loads((folder / "sample.json").read_text(encoding="utf-8"))
    return {row["rid"]: row["id"] for row in data["sample"]}


def load_reader(path: Path) -> dict[str, bool]:
    """One reader's labels: ``rid`` → sarcastic."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {row["rid"]: bool(row["sarcastic"]) for row in rows}


def majority(readers: Sequence[dict[str, bool]]) -> dict[str, bool]:
    """Sarcastic where more than half of the readers said so."""
    return {rid: sum(r[rid] for r in readers) * 2 > len(readers) for rid in readers[0]}


def rows(name: str, drafts: Sequence[Draft], flagged: Sequence[bool]) -> list[str]:
    """A table row per language and for all (``evals.sarcasm.language_rates``): balanced accuracy, recall, false alarms,
    false alarms on hard sincere drafts."""
    from evals.sarcasm import language_rates

    out = []
    for lang, r in language_rates(drafts, flagged):
        out.append(
            f"| {name} | {lang} | {r.items} | {r.balanced:.3f} | {r.recall:.3f} | {r.false_alarm:.1%} | "
            f"{r.hard_false_alarm:.1%} |"
        )
    return out


def evaluate(*, with_check: bool = True) -> str:
    sample = load_sample()
    corpus = {d.id: d for d in load_drafts("development")}
    drafts = {rid: corpus[draft_id] for rid, draft_id in sample.items()}
    readers = {p.stem: load_reader(p) for p in sorted(READERS.glob("reader*.jsonl"))}
    for name, labels in readers.items():
        if set(labels) != set(drafts):
            raise ValueError(f"{name} does not label exactly the sample's drafts")
    lines = [
        "| who | language | drafts | balanced accuracy | recall | false alarms | on hard sincere |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, labels in readers.items():
        lines += rows(name, list(drafts.values()), [labels[rid] for rid in drafts])
    agreed = majority(list(readers.values()))
    lines += rows("majority of the readers", list(drafts.values()), [agreed[rid] for rid in drafts])
    if with_check:
        from evals.sarcasm import checks, is_sarcastic

        check = checks()["learned + phrases"]
        for context in (False, True):
            said = {
                rid: is_sarcastic(check(d.text, d.language, d.customer_name, d.customer_message if context else None))
                for rid, d in drafts.items()
            }
            name = "shipped check (in-sample)" + (", with the customer's message" if context else ", draft alone")
            lines += rows(name, list(drafts.values()), [said[rid] for rid in drafts])
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers-only", action="store_true", help="skip the shipped check (no model loaded)")
    args = parser.parse_args(argv)
    print(evaluate(with_check=not args.readers_only))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
