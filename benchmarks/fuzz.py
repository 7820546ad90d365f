"""Long fuzz (not a test): schemathesis against a served Tactful with each role's key, every phase, many examples.

    .venv/bin/python benchmarks/fuzz.py --examples 100 --webhook-examples 2000
    .venv/bin/python benchmarks/fuzz.py --examples 25 --roles admin --seed 7

Serves the app as tests/test_fuzz.py does (small knowledge base indexed, installations enabled, no rate limit) and
prints a Markdown table (per role, then the signed webhook deliveries: operations fuzzed, requests made, failures,
time), then each failure. Exit status 1 when anything failed. The checks are those of the test: no 5xx, every
answer matching its documented schema, status code and content type; a webhook's 4xx names the field.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tests` is not an installed package

from tests.conftest import serving
from tests.factories import KEYS
from tests.fuzzing import PHASES, RoleRun, fuzz_role, fuzz_settings, fuzz_webhooks, helpdesk_installations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=100, help="examples per operation in the fuzzing phase")
    parser.add_argument("--roles", nargs="+", default=sorted(KEYS), choices=sorted(KEYS))
    parser.add_argument("--webhook-examples", type=int, default=1000, help="signed deliveries per helpdesk (0: none)")
    parser.add_argument("--seed", type=int, default=None, help="the same cases again (default: new ones)")
    args = parser.parse_args()
    settings = fuzz_settings(Path(tempfile.mkdtemp(prefix="tactful-fuzz-")) / "data")
    runs: list[tuple[RoleRun, float]] = []
    with serving(settings) as url:
        for role in args.roles:
            started = time.perf_counter()
            run = fuzz_role(url, role, max_examples=args.examples, seed=args.seed, phases=PHASES)
            runs.append((run, time.perf_counter() - started))
            _progress(run)
        if args.webhook_examples:
            started = time.perf_counter()
            run = fuzz_webhooks(url, helpdesk_installations(url), max_examples=args.webhook_examples, seed=args.seed)
            runs.append((run, time.perf_counter() - started))
            _progress(run)
    print(f"examples per operation: {args.examples}; phases: {', '.join(PHASES)}; signed deliveries per helpdesk: "
          f"{args.webhook_examples}; seed: {args.seed}\n")  # fmt: skip
    print("| role | operations fuzzed | requests (examples) | failures | time |")
    print("|---|---|---|---|---|")
    for run, seconds in runs:
        print(f"| {run.role} | {len(run.operations)} | {run.examples:,} | {len(run.failures)} | {seconds:.0f} s |")
    failures = [f"{run.role}: {failure}" for run, _ in runs for failure in run.failures]
    for failure in failures:
        print(f"\n- {failure}")
    return 1 if failures else 0


def _progress(run: RoleRun) -> None:
    print(f"{run.role}: {len(run.operations)} operations, {run.examples} requests, {len(run.failures)} failures",
          file=sys.stderr, flush=True)  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
