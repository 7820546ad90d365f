"""Next steps with an LLM configured: the stream's ``next_steps`` part measured on the blind steps set, with a
capable model reading the service's own prompts (a script, not a test).

No model runs here, so the answers come from outside, in two steps around them:

    .venv/bin/python -m evals.steps_llm prompts --out DIR --split dev      # DIR/prompts.jsonl: rid, system, prompt
    # a capable model answers each request (its system prompt, then its prompt) into DIR/answers.jsonl:
    #   {"rid": "b1-01", "answer": "<the model's raw answer>"}
    .venv/bin/python -m evals.steps_llm score --answers DIR/answers.jsonl --split dev

``--alternatives N`` (both steps alike; default as the service does): the best passage of N more topics in the
steps prompt; ``--alternatives 0`` renders the prompt as it was before session 16.

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
from evals._llm_answers import CANARY, read_answers
from evals.steps import DEMO_KB, GoldCase, Report, StepMatcher, Tally, _score, _table, load_cases

if TYPE_CHECKING:
    from assist.models import Assistance
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


def write_prompts(out: Path, *, split: str, alternatives: int) -> int:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with _service() as (engine, _, _):
        for _, case in load_cases(splits(split)):
            _, job = refinement(engine, case, alternatives=alternatives)
            row = {"rid": case.id, "system": job.system, "prompt": job.prompts["next_steps"]}
            rows.append(json.dumps(row, ensure_ascii=False))
    (out / "prompts.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return len(rows)


def score(answers: dict[str, str], *, split: str, alternatives: int) -> tuple[str, dict[str, int]]:
    """The steps table for the rules alone and with the LLM's steps, and how the answers fared."""
    from assist.refine.answers import SCHEMAS, parse_json
    from assist.refine.checks import OutputChecks
    from assist.refine.config import RefineConfig
    from assist.refine.orchestration import _merge

    reports = {"rules": Report(), "rules + LLM": Report()}
    fared = {"steps kept": 0, "fell back to the rules": 0, "malformed": 0, "missing": 0}
    with _service() as (engine, matcher, embed):
        checks = OutputChecks(canary=CANARY, embed=embed, grounding=RefineConfig().grounding)
        for name, case in load_cases(splits(split)):
            assistance, job = refinement(engine, case, alternatives=alternatives)
            merged = assistance
            if case.id not in answers:
                fared["missing"] += 1
            else:
                try:
                    parsed = SCHEMAS["next_steps"].model_validate(parse_json(answers[case.id]))
                except ValueError:
                    fared["malformed"] += 1
                else:
                    outcome = checks.check("next_steps", parsed, job)
                    if outcome.status == "ok":
                        merged = _merge(assistance, outcome, job)
                        fared["steps kept"] += 1
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
    scored = sub.add_parser("score", help="score a model's answers through the service's output checks")
    scored.add_argument("--answers", type=Path, required=True)
    scored.add_argument("--split", choices=("dev", "held_out", "both"), default="dev")
    scored.add_argument("--alternatives", type=int, default=ALTERNATIVE_TOPICS, help="as the prompts were written")
    args = parser.parse_args(argv)
    if args.command == "prompts":
        written = write_prompts(args.out, split=args.split, alternatives=args.alternatives)
        print(f"{written} prompts written to {args.out}")
        return 0
    table, fared = score(read_answers(args.answers), split=args.split, alternatives=args.alternatives)
    print(table)
    print("\n" + ", ".join(f"{k}: {v}" for k, v in fared.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
