"""A model's answers to prompts the service rendered, as the LLM evaluations read them (``evals/sarcasm_llm.py``,
``evals/steps_llm.py``): JSON Lines of ``{"rid": …, "answer": "<the model's raw answer>"}``."""

from __future__ import annotations

import json
from pathlib import Path

# The system prompt's secret when the evaluations render it (the service draws a random one per process).
CANARY = "TFL-eval00000000"


def read_answers(path: Path) -> dict[str, str]:
    """Each request id's raw answer (an answer written as a JSON object is taken as its text)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {row["rid"]: row["answer"] if isinstance(row["answer"], str) else json.dumps(row["answer"]) for row in rows}
