"""Evaluation scripts on ``../shared/eval/`` (not tests): each prints a table beside a simple baseline.

``tactful eval retrieval``, ``tone``, ``sarcasm``, ``gaps``, ``steps``, ``journey``, ``layouts`` and ``versions`` call :func:`run`.
"""

from __future__ import annotations

import importlib
from pathlib import Path

EVALUATIONS = {
    "retrieval": "evals.retrieval",
    "tone": "evals.tone",
    "gaps": "evals.gaps",
    "sarcasm": "evals.sarcasm",
    "steps": "evals.steps",
    "journey": "evals.journey",
    "layouts": "evals.layouts",
    "versions": "evals.versions",
}
# Evaluations whose own data has a frozen held-out split: they score the split asked for (dev while tuning).
SPLIT_AWARE = frozenset({"steps", "journey", "versions"})


def run(what: str, *, data: Path, limit: int = 0, out: str = "", split: str = "", layout: str = "") -> int:
    """Run the evaluation ``what`` on the data folder ``data``; write the Markdown table to ``out`` when given.

    ``layout`` (``layouts`` only) scores one layout of ``evals.layouts.LAYOUTS`` instead of all of them."""
    if what in SPLIT_AWARE:
        module = importlib.import_module(EVALUATIONS[what])
        table: str = module.evaluate(data, limit=limit, split=split or "dev")
        print(table)
        if out:
            Path(out).write_text(table + "\n", encoding="utf-8")
        return 0
    if split:
        print(f"tactful eval: --split applies to {', '.join(sorted(SPLIT_AWARE))} only")
        return 2
    if not data.is_dir():
        print(f"tactful eval: no evaluation data at {data} (expected ../shared/eval/data)")
        return 2
    if layout and what != "layouts":
        print("tactful eval: --layout applies to layouts only")
        return 2
    module = importlib.import_module(EVALUATIONS[what])
    table = (
        module.evaluate(data, limit=limit, layout=layout) if what == "layouts" else module.evaluate(data, limit=limit)
    )
    print(table)
    if out:
        Path(out).write_text(table + "\n", encoding="utf-8")
    return 0
