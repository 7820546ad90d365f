"""The tone check with an LLM configured: what the stream's ``tone_llm`` part adds to the offline check's sarcasm
findings, measured with a capable model reading the service's own prompts (a script, not a test).

No model runs here, so the answers come from outside, in two steps around them:

    .venv/bin/python -m evals.sarcasm_llm prompts --out DIR     # DIR/prompts.jsonl: rid, system, prompt
    # a capable model answers each request (its system prompt, then its prompt) into DIR/answers.jsonl:
    #   {"rid": "r001", "answer": "<the model's raw answer>"}
    .venv/bin/python -m evals.sarcasm_llm score --answers DIR/answers.jsonl

The drafts are the blind readers' sample (``evals/tone_corpus/readers/sample.json``: 240 development drafts), or
with ``--drafts held_out`` (on both steps) the 400 held-out drafts, each checked as the answer to its customer's
message, as an assist with a draft checks it. ``prompts`` runs the rules engine (the offline check, learned scorer
included) and renders the ``tone_llm`` prompt exactly as the service does (``build_refinement``: redacted, fenced,
the rules' findings listed); ``score`` passes every answer through the service's own parsing and output checks
(``OutputChecks``: safe wording, the quote located in the draft, only what the rules missed) and reports sarcasm per
language for the offline check alone and with the findings that stand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from evals._demo import demo_container
from evals._llm_answers import CANARY, read_answers
from evals._sarcasm_data import Draft, load_drafts
from evals.sarcasm_readers import load_sample, rows

if TYPE_CHECKING:
    from assist.engine import AssistEngine
    from assist.models import Assistance, Conversation
    from assist.refine.prompts import Refinement

# The LLM's kinds that count as a sarcasm finding (condescension is reported as a second reading).
SARCASM = frozenset({"sarcasm"})
SARCASM_OR_CONDESCENSION = frozenset({"sarcasm", "condescension"})


@dataclass(frozen=True)
class Judged:
    draft: Draft
    rules: bool  # the offline check flagged sarcasm
    kinds: frozenset[str]  # the kinds of the LLM's findings that stood the output checks


def conversation_of(rid: str, draft: Draft) -> Conversation:
    from assist.models import Conversation

    return Conversation.model_validate(
        {
            "id": rid,
            "language": draft.language,
            "customer": {"name": draft.customer_name} if draft.customer_name else {},
            "messages": [{"role": "customer", "text": draft.customer_message}],
        }
    )


@contextmanager
def rules_engine() -> Iterator[AssistEngine]:
    """The service's rules engine as it ships (learned sarcasm scorer on), over an empty knowledge base."""
    with demo_container("tactful-sarcasm-llm-", index_demo=False, learned_sarcasm=True) as container:
        yield container.assist.rules


def refinement(engine: AssistEngine, rid: str, draft: Draft) -> tuple[Assistance, Refinement]:
    from assist.refine.config import RefineConfig
    from assist.refine.prompts import build_refinement

    conversation = conversation_of(rid, draft)
    assistance, passages = engine.assist_with_passages(conversation, draft=draft.text)
    job = build_refinement(
        assistance,
        conversation=conversation,
        passages=passages,
        draft=draft.text,
        config=RefineConfig(),
        canary=CANARY,
    )
    return assistance, job


SETS = ("readers", "held_out")


def sample_drafts(only: set[str] | None = None, *, drafts: str = "readers") -> dict[str, Draft]:
    """The drafts by request id: the readers' sample of development drafts (``r001``…), or every held-out draft
    (``h001``…, in file order); ``only``: these ids of them."""
    if drafts == "held_out":
        chosen = {f"h{i:03d}": d for i, d in enumerate(load_drafts("held_out"), start=1)}
    else:
        corpus = {d.id: d for d in load_drafts("development")}
        chosen = {rid: corpus[draft_id] for rid, draft_id in load_sample().items()}
    return {rid: d for rid, d in chosen.items() if only is None or rid in only}


def write_prompts(out: Path, *, drafts: str = "readers") -> int:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with rules_engine() as engine:
        for rid, draft in sample_drafts(drafts=drafts).items():
            _, job = refinement(engine, rid, draft)
            # Each request has its own system prompt: it names the language to write in and the contact level.
            row = {"rid": rid, "system": job.system, "prompt": job.prompts["tone_llm"]}
            rows.append(json.dumps(row, ensure_ascii=False))
    (out / "prompts.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return len(rows)


def judge(
    answers: dict[str, str], *, only: set[str] | None = None, drafts: str = "readers"
) -> tuple[list[Judged], dict[str, int]]:
    """Each sampled draft (``only``: these of them): the offline check's verdict and the LLM findings that stand;
    and how many answers were missing or failed to parse."""
    from assist.refine.answers import SCHEMAS, parse_json
    from assist.refine.checks import OutputChecks
    from assist.refine.config import RefineConfig
    from evals.sarcasm import is_sarcastic

    checks = OutputChecks(canary=CANARY, embed=None, grounding=RefineConfig().grounding)
    judged: list[Judged] = []
    problems = {"missing": 0, "malformed": 0}
    with rules_engine() as engine:
        for rid, draft in sample_drafts(only, drafts=drafts).items():
            assistance, job = refinement(engine, rid, draft)
            rules = assistance.tone is not None and is_sarcastic(assistance.tone)
            kinds: frozenset[str] = frozenset()
            if rid not in answers:
                problems["missing"] += 1
            else:
                try:
                    parsed = SCHEMAS["tone_llm"].model_validate(parse_json(answers[rid]))
                except ValueError:
                    problems["malformed"] += 1
                else:
                    outcome = checks.check("tone_llm", parsed, job)
                    kinds = frozenset(finding.kind for finding in outcome.items)
            judged.append(Judged(draft, rules, kinds))
    return judged, problems


def table(judged: Sequence[Judged]) -> str:
    lines = [
        "| reading | language | drafts | balanced accuracy | recall | false alarms | on hard sincere |",
        "|---|---|---|---|---|---|---|",
    ]
    readings = {
        "offline check alone": lambda j: j.rules,
        "offline check + LLM sarcasm findings": lambda j: j.rules or bool(j.kinds & SARCASM),
        "offline check + LLM sarcasm or condescension": lambda j: j.rules or bool(j.kinds & SARCASM_OR_CONDESCENSION),
    }
    for name, flagged in readings.items():
        lines += rows(name, [j.draft for j in judged], [flagged(j) for j in judged])
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prompts = sub.add_parser("prompts", help="render the tone_llm prompt of every sampled draft")
    prompts.add_argument("--out", type=Path, required=True)
    prompts.add_argument("--drafts", choices=SETS, default="readers", help="held_out: the held-out authors' drafts")
    score = sub.add_parser("score", help="score a model's answers through the service's output checks")
    score.add_argument("--answers", type=Path, required=True)
    score.add_argument("--drafts", choices=SETS, default="readers")
    args = parser.parse_args(argv)
    if args.command == "prompts":
        print(f"{write_prompts(args.out, drafts=args.drafts)} prompts written to {args.out}")
        return 0
    judged, problems = judge(read_answers(args.answers), drafts=args.drafts)
    print(table(judged))
    print(f"\nanswers missing: {problems['missing']}, malformed: {problems['malformed']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
