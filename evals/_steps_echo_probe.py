"""Development-only probe (issue 14): how far the e5 "echoes" separate the steps a conversation already did from the
steps still to do. Not part of the service.

For each development conversation of the steps set, every sentence the engine reads as an echo (``Echoes.of``)
against every step of the gold document (``action`` of each, as ``Echoes.done`` embeds them): per step, its best
sentence's cosine, whether the step is that sentence's nearest and by what margin. Then, for rules of the shape
``Echoes.done`` uses (a cosine floor, with or without "nearest step of its sentence, by a margin"), how many gold
done steps each finds and how many gold next steps it would wrongly take as done. Last, the agents' questions alone:
the gold status of the step nearest each (``ECHO_QUESTION_MIN_COSINE`` was chosen on it). The held-out split is not
read.

    .venv/bin/python -m evals._steps_echo_probe
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from assist.done_steps import Echoes, action, embed_all
from evals._demo import demo_container
from evals.steps import DEMO_KB, GoldCase, first_list, load_cases

FLOORS = (0.84, 0.85, 0.86, 0.87, 0.88, 0.89)
MARGINS = (0.0, 0.01)


@dataclass(frozen=True)
class StepEcho:
    status: str  # done, next or other (a step the gold lists as neither)
    best: float
    nearest: bool
    margin: float


def _readings() -> Iterator[tuple[GoldCase, list[int], Echoes, np.ndarray]]:
    """Each development conversation with two or more gold steps and a sentence to read: its gold step numbers, its
    echoes, and their cosines (sentence x step, each step's ``action``)."""
    from kb_index.loaders import iter_paths, load_path

    documents = {d.id: d.text for d in map(load_path, iter_paths([DEMO_KB]))}
    with demo_container("tactful-echo-probe-") as container:
        embedder = container.assist.rules.retriever
        for _, case in load_cases(["dev"]):
            steps = first_list(documents[case.document])
            numbers = sorted(steps)
            found = Echoes.of(case.conversation, embedder)  # type: ignore[arg-type]
            if not found.sentences or len(numbers) < 2:
                continue
            sims = found.vectors() @ embed_all(embedder, [action(steps[n]) for n in numbers]).T  # type: ignore[arg-type]
            yield case, numbers, found, sims


def _status(case: GoldCase, number: int) -> str:
    return "done" if number in case.done else "next" if number in case.next else "other"


def echoes() -> list[StepEcho]:
    rows: list[StepEcho] = []
    for case, numbers, _, sims in _readings():
        ordered = np.sort(sims, axis=1)
        for column, number in enumerate(numbers):
            row = int(sims[:, column].argmax())
            rows.append(
                StepEcho(
                    _status(case, number),
                    float(sims[row, column]),
                    int(sims[row].argmax()) == column,
                    float(sims[row, column] - ordered[row, -2]),
                )
            )
    return rows


@dataclass(frozen=True)
class QuestionEcho:
    status: str  # of the step nearest the question: done, next or other
    best: float
    margin: float


def agent_questions() -> list[QuestionEcho]:
    """Each agent question of the development conversations (as ``Echoes.of`` reads it) against the steps of the
    gold document: the status of its nearest step, their cosine and the margin over the next nearest."""
    rows: list[QuestionEcho] = []
    for case, numbers, found, sims in _readings():
        for index, sentence in enumerate(found.sentences):
            if sentence.role != "agent" or not sentence.asks:
                continue
            row = sims[index]
            order = np.argsort(-row)
            rows.append(
                QuestionEcho(
                    _status(case, numbers[int(order[0])]), float(row[order[0]]), float(row[order[0]] - row[order[1]])
                )
            )
    return rows


def main() -> int:
    rows = echoes()
    done = [r for r in rows if r.status == "done"]
    later = [r for r in rows if r.status == "next"]
    print(f"gold done steps: {len(done)}, gold next steps: {len(later)}")
    print("| cosine floor | nearest step of its sentence, margin | done steps found ↑ | next steps taken as done ↓ |")
    print("|---|---|---|---|")
    for floor in FLOORS:
        for margin in (None, *MARGINS):

            def hit(r: StepEcho, floor: float = floor, margin: float | None = margin) -> bool:
                return r.best >= floor and (margin is None or (r.nearest and r.margin >= margin))

            rule = "not required" if margin is None else f"required, ≥ {margin}"
            print(f"| {floor} | {rule} | {sum(map(hit, done))} | {sum(map(hit, later))} |")
    questions = agent_questions()
    print(f"\nagent questions: {len(questions)}; the status of the step nearest each")
    print("| cosine floor | margin | nearest done | nearest next | nearest other |")
    print("|---|---|---|---|---|")
    for floor in (0.80, 0.82, 0.84, 0.86, 0.88):
        for margin in (0.0, 0.01, 0.02):
            kept = [q for q in questions if q.best >= floor and q.margin >= margin]
            counts = [sum(q.status == status for q in kept) for status in ("done", "next", "other")]
            print(f"| {floor} | {margin} | " + " | ".join(map(str, counts)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
