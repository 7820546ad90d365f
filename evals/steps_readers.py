"""How far careful blind readers agree with the steps set's authors on what is done and what comes next.

Two readers (``evals/steps_corpus/readers/``: helper sessions that saw only the label definitions of the authors'
brief and, for each development conversation, the conversation and the numbered steps of its gold procedure) said
which steps were already done and which 1 to 3 come next. Scored as ``tactful eval steps`` scores the service with
the topic given: the share of their next steps that the author labelled done, and the share of the author's next
steps they name. This is what the labels allow once the topic is right, a ceiling for issue 14's steps targets
(≤ 5% already done, ≥ 90% recalled); the service's own "right topic only" rows are beside it for scale.

    .venv/bin/python -m evals.steps_readers
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.steps import CORPUS, GoldCase, load_cases

READERS = CORPUS / "readers"


@dataclass(frozen=True)
class Labels:
    done: frozenset[int]
    next: tuple[int, ...]


def load_reader(path: Path) -> dict[str, Labels]:
    """One reader's labels: conversation id → what it found done and what it would do next."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    return {
        row["id"]: Labels(frozenset(int(n) for n in row["done"]), tuple(int(n) for n in row["next"])) for row in rows
    }


@dataclass
class Agreement:
    suggested: int = 0
    already_done: int = 0
    next_total: int = 0
    next_found: int = 0
    first_right: int = 0
    cases: int = 0
    done_true: int = 0
    done_labelled: int = 0
    done_gold: int = 0

    def add(self, gold_done: frozenset[int], gold_next: Sequence[int], labels: Labels) -> None:
        self.cases += 1
        self.suggested += len(labels.next)
        self.already_done += len(set(labels.next) & gold_done)
        self.next_total += len(gold_next)
        self.next_found += len(set(labels.next) & set(gold_next))
        self.first_right += bool(labels.next) and labels.next[0] in gold_next
        self.done_true += len(labels.done & gold_done)
        self.done_labelled += len(labels.done)
        self.done_gold += len(gold_done)

    def row(self, name: str) -> str:
        def share(a: int, b: int) -> str:
            return f"{a / b:.3f}" if b else "-"

        return (
            f"| {name} | {self.cases} | {share(self.already_done, self.suggested)} | "
            f"{share(self.next_found, self.next_total)} | {share(self.first_right, self.cases)} | "
            f"{share(self.done_true, self.done_labelled)} | {share(self.done_true, self.done_gold)} |"
        )


def agreement(cases: Sequence[GoldCase], labels: Mapping[str, Labels]) -> Agreement:
    found = Agreement()
    for case in cases:
        if case.id in labels:
            found.add(case.done, case.next, labels[case.id])
    return found


def between(first: Mapping[str, Labels], second: Mapping[str, Labels]) -> Agreement:
    """The second reader scored against the first, as if the first were the author."""
    found = Agreement()
    for rid, labels in first.items():
        if rid in second:
            found.add(labels.done, labels.next, second[rid])
    return found


def report(folder: Path = READERS) -> str:
    cases = [case for _, case in load_cases(["dev"])]
    readers = {path.stem: load_reader(path) for path in sorted(folder.glob("reader*.json"))}
    head = (
        "| reader against the authors | conversations | next steps already done ↓ | author's next steps named ↑ "
        "| first next step is the author's ↑ | done: precision | done: recall |\n|---|---|---|---|---|---|---|"
    )
    lines = [head] + [agreement(cases, labels).row(name) for name, labels in readers.items()]
    names = list(readers)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            lines.append(between(readers[first], readers[second]).row(f"{second} against {first}"))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    del argv
    print(report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
