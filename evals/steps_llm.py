"""Next steps with an LLM configured: the stream's ``next_steps`` part measured on the blind steps set, with a
capable model reading the service's own prompts (a script, not a test).

No model runs here, so the answers come from outside, in two steps around them:

    .venv/bin/python -m evals.steps_llm prompts --out DIR --split dev      # DIR/prompts.jsonl: rid, system, prompt
    # a capable model answers each request (its system prompt, then its prompt) into DIR/answers.jsonl:
    #   {"rid": "b1-01", "answer": "<the model's raw answer>"}
    .venv/bin/python -m evals.steps_llm score --answers DIR/answers.jsonl --split dev

``--alternatives N`` (both steps alike; default as the service does): the best passage of N more topics in the
steps prompt; ``--alternatives 0`` renders the prompt as it was before session 16.

An answer finding no passage about the customer's problem, with its own search line, gets a second steps prompt
over what that line finds (as the service asks again); those prompts come from the first answers:

    .venv/bin/python -m evals.steps_llm prompts --out DIR2 --split dev --first DIR/answers.jsonl
    .venv/bin/python -m evals.steps_llm score --answers DIR/answers.jsonl --second DIR2/answers.jsonl --split dev

Without ``--second`` such an answer ends with no step, as the service ends it when the second prompt finds nothing.

``prompts`` runs the rules engine over the demo knowledge base (as ``tactful eval steps`` does) and renders the
``next_steps`` prompt exactly as the service does (``build_refinement``: the passages the engine retrieved, the
conversation redacted and fenced). ``score`` passes each answer through the service's own parsing and output checks
(``OutputChecks``: no promise the policy does not make, the conversation's language, every step grounded in a
passage it cites, the level's number of steps) and merges the steps that stand as the stream does; an answer with
no step standing leaves the rules' steps, as the service falls back to them. Both are scored as ``tactful eval
steps`` scores the rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assist.engine import ALTERNATIVE_TOPICS
from assist.refine.checks import Outcome
from evals._llm_answers import CANARY, read_answers
from evals.steps import DEMO_KB, GoldCase, Report, StepMatcher, Tally, _score, _table, load_cases

if TYPE_CHECKING:
    from assist.models import Assistance, Passage
    from assist.refine.prompts import Refinement


@contextmanager
def _service() -> Iterator[tuple[Any, StepMatcher, Any]]:
    """The rules engine over the demo knowledge base, the gold step matcher and the service's embedder."""
    from evals._demo import demo_container
    from kb_index.loaders import iter_paths, load_path

    documents = {doc.id: doc.text for doc in map(load_path, iter_paths([DEMO_KB]))}
    with demo_container("tactful-steps-llm-") as container:
        embed = container.knowledge.retriever.store.embeddings.embed_documents
        yield container.assist.rules, StepMatcher(documents, embed), embed


def refinement(engine: Any, case: GoldCase, *, alternatives: int) -> tuple[Assistance, Refinement]:
    """As the service builds it: the rules' passages, and the best passages of ``alternatives`` more topics."""
    from assist.refine.config import RefineConfig
    from assist.refine.prompts import build_refinement

    assistance, passages = engine.assist_with_passages(case.conversation)
    job = build_refinement(
        assistance,
        conversation=case.conversation,
        passages=passages,
        draft=None,
        config=RefineConfig(),
        canary=CANARY,
        alternatives=engine.alternative_passages(
            case.conversation, passages[: RefineConfig().passages], topics=alternatives
        ),
    )
    return assistance, job


def splits(split: str) -> list[str]:
    return ["dev", "held_out"] if split == "both" else [split]


def _checked(answer: str, job: Refinement, checks: Any) -> Outcome | str:
    """An answer (to a first or a second prompt) through the service's parsing and checks, or ``"malformed"``."""
    from assist.refine.answers import SCHEMAS, parse_json

    try:
        parsed = SCHEMAS["next_steps"].model_validate(parse_json(answer))
    except ValueError:
        return "malformed"
    outcome: Outcome = checks.check("next_steps", parsed, job)
    return outcome


def second_job(engine: Any, case: GoldCase, job: Refinement, first: Outcome) -> Refinement | None:
    """The second steps prompt the service sends after ``first`` found no passage about the problem, or None."""
    from assist.refine.config import RefineConfig
    from assist.refine.orchestration import second_steps_job

    config = RefineConfig()

    def research(line: str, shown: Sequence[Passage]) -> list[Passage]:
        found: list[Passage] = engine.alternative_passages(
            case.conversation, shown, topics=config.research_topics, search=line
        )
        return found

    return second_steps_job(job, first, research, config=config, canary=CANARY)


def _checks(embed: Any) -> Any:
    from assist.refine.checks import OutputChecks
    from assist.refine.config import RefineConfig

    return OutputChecks(canary=CANARY, embed=embed, grounding=RefineConfig().grounding)


def write_prompts(out: Path, *, split: str, alternatives: int, first: dict[str, str] | None = None) -> int:
    """Each conversation's steps prompt; with ``first`` (answers to those), the second prompts the service would
    send after the answers that found no passage about the problem."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with _service() as (engine, _, embed):
        checks = _checks(embed)
        for _, case in load_cases(splits(split)):
            _, job = refinement(engine, case, alternatives=alternatives)
            if first is not None:
                outcome = _checked(first.get(case.id, ""), job, checks)
                second = None if isinstance(outcome, str) else second_job(engine, case, job, outcome)
                if second is None:
                    continue
                job = second
            row = {"rid": case.id, "system": job.system, "prompt": job.prompts["next_steps"]}
            rows.append(json.dumps(row, ensure_ascii=False))
    (out / "prompts.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return len(rows)


def score(
    answers: dict[str, str], *, split: str, alternatives: int, second: dict[str, str] | None = None
) -> tuple[str, dict[str, int]]:
    """The steps table for the rules alone and with the LLM's steps, and how the answers fared. ``second``: the
    answers to the second prompts (``write_prompts`` with ``first``)."""
    from assist.refine.checks import NOT_COVERED
    from assist.refine.orchestration import _merge, second_outcome

    reports = {"rules": Report(), "rules + LLM": Report()}
    fared = {
        "steps kept": 0, "fell back to the rules": 0, "no passage about the problem": 0, "asked again": 0,
        "steps from the second prompt": 0, "malformed": 0, "missing": 0,
    }  # fmt: skip
    with _service() as (engine, matcher, embed):
        checks = _checks(embed)
        for name, case in load_cases(splits(split)):
            assistance, job = refinement(engine, case, alternatives=alternatives)
            merged = assistance
            outcome = _checked(answers[case.id], job, checks) if case.id in answers else "missing"
            if isinstance(outcome, str):
                fared[outcome] += 1
            else:
                if outcome.reason == NOT_COVERED:
                    job2 = second_job(engine, case, job, outcome)
                    if job2 is not None and second is not None and case.id in second:
                        fared["asked again"] += 1
                        again = _checked(second[case.id], job2, checks)
                        again = Outcome("next_steps", "malformed") if isinstance(again, str) else again
                        outcome = second_outcome(outcome, again)
                        job = job2 if outcome.items else job
                        fared["steps from the second prompt"] += bool(outcome.items)
                if outcome.status == "ok":
                    merged = _merge(assistance, outcome, job)
                    fared["steps kept" if outcome.items else "no passage about the problem"] += 1
                else:
                    fared["fell back to the rules"] += 1
            for label, answer in (("rules", assistance), ("rules + LLM", merged)):
                tally: Tally = _score(case, answer, matcher)
                reports[label].by_split[f"{name}, {label}"].add(tally)
                reports[label].by_language[(f"{name}, {label}", case.language)].add(tally)
                if tally.on_topic_cases:
                    reports[label].on_topic[f"{name}, {label}"].add(tally)
    tables = [_table(report, []).split("\n\n<details>")[0] for report in reports.values()]
    return "\n\n".join(tables), fared


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prompts = sub.add_parser("prompts", help="render the next_steps prompt of every conversation of the split")
    prompts.add_argument("--out", type=Path, required=True)
    prompts.add_argument("--split", choices=("dev", "held_out", "both"), default="dev")
    prompts.add_argument("--alternatives", type=int, default=ALTERNATIVE_TOPICS, help="other topics offered (0: none)")
    prompts.add_argument("--first", type=Path, help="answers to the first prompts: write the second prompts")
    scored = sub.add_parser("score", help="score a model's answers through the service's output checks")
    scored.add_argument("--answers", type=Path, required=True)
    scored.add_argument("--split", choices=("dev", "held_out", "both"), default="dev")
    scored.add_argument("--alternatives", type=int, default=ALTERNATIVE_TOPICS, help="as the prompts were written")
    scored.add_argument("--second", type=Path, help="answers to the second prompts")
    args = parser.parse_args(argv)
    if args.command == "prompts":
        first = read_answers(args.first) if args.first else None
        written = write_prompts(args.out, split=args.split, alternatives=args.alternatives, first=first)
        print(f"{written} prompts written to {args.out}")
        return 0
    second = read_answers(args.second) if args.second else None
    table, fared = score(read_answers(args.answers), split=args.split, alternatives=args.alternatives, second=second)
    print(table)
    print("\n" + ", ".join(f"{k}: {v}" for k, v in fared.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
