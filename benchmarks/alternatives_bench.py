"""What the LLM path's search for other topics costs (not a test): ``AssistEngine.alternative_passages`` after the
rules answer of the same conversation, as the stream runs it (the query's vectors already cached by the rules
answer), beside the rules answer itself, over the blind steps set's conversations on the demo knowledge base; and
the search for a second steps prompt, with a line the LLM wrote (new text each time: its vector is not cached).

    GOMP_SPINCOUNT=1000 .venv/bin/python benchmarks/alternatives_bench.py --repeat 5 --authors b1 b2 b3 b4

All 192 conversations (no ``--authors``) hold more sentences than the query cache (1,024 texts), so each round
embeds them again: that measures a cold cache, not the sidebar's re-assists.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from evals._demo import demo_container
from evals.steps import load_cases


def _p50_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--authors",
        nargs="*",
        default=[],
        help="only these authors' conversations (b1 b2 b3 b4: the 96 of sessions 16-17)",
    )
    args = parser.parse_args()
    cases = [case for _, case in load_cases(["dev", "held_out"]) if not args.authors or case.author in args.authors]
    rules: list[float] = []
    alternatives: list[float] = []
    second: list[float] = []
    with demo_container("tactful-alt-bench-") as container:
        engine = container.assist.rules
        for case in cases:  # warm: the query vectors, Chroma's pages
            _, passages = engine.assist_with_passages(case.conversation)
            engine.alternative_passages(case.conversation, passages[:5])
        for round_ in range(args.repeat):
            for case in cases:
                started = time.perf_counter()
                _, passages = engine.assist_with_passages(case.conversation)
                rules.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                shown = engine.alternative_passages(case.conversation, passages[:5])
                alternatives.append((time.perf_counter() - started) * 1000)
                # A new line each round, as an LLM's search line is: embedded, not taken from the cache.
                line = f"{case.conversation.messages[0].text[:60]} ({round_})"
                started = time.perf_counter()
                engine.alternative_passages(case.conversation, [*passages[:5], *shown], topics=3, search=line)
                second.append((time.perf_counter() - started) * 1000)
    print(f"{platform.machine()}, Python {platform.python_version()}, {len(cases)} conversations x {args.repeat}")
    measures = (
        ("rules answer (assist, no draft)", rules),
        ("alternative passages", alternatives),
        ("passages for the LLM's search line (second prompt)", second),
    )
    for name, samples in measures:
        p50, p95 = _p50_p95(samples)
        print(f"{name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
