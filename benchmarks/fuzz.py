"""Long fuzz (not a test): schemathesis against a served Tactful with each role's key, every phase, many examples.

    .venv/bin/python benchmarks/fuzz.py --examples 100
    .venv/bin/python benchmarks/fuzz.py --examples 25 --roles admin --seed 7

Serves the app as tests/test_fuzz.py does (small knowledge base indexed, installations enabled, no rate limit) and
prints a Markdown table (per role: operations fuzzed, requests made, failures, time), then each failure. Exit
status 1 when anything failed. The checks are those of the test: no 5xx, every answer matching its documented
schema, status code and content type.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tests` is not an installed package

from cryptography.fernet import Fernet

from tests.conftest import make_settings, serving
from tests.factories import KEYS
from tests.fuzzing import PHASES, RoleRun, fuzz_role


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=100, help="examples per operation in the fuzzing phase")
    parser.add_argument("--roles", nargs="+", default=sorted(KEYS), choices=sorted(KEYS))
    parser.add_argument("--seed", type=int, default=None, help="the same cases again (default: new ones)")
    args = parser.parse_args()
    settings = make_settings(
        Path(tempfile.mkdtemp(prefix="tactful-fuzz-")) / "data",
        secret_key=Fernet.generate_key().decode(),
        rate_limit_per_minute=0,
    )
    runs: list[tuple[RoleRun, float]] = []
    with serving(settings) as url:
        for role in args.roles:
            started = time.perf_counter()
            run = fuzz_role(url, role, max_examples=args.examples, seed=args.seed, phases=PHASES)
            runs.append((run, time.perf_counter() - started))
            print(f"{role}: {len(run.operations)} operations, {run.examples} requests, {len(run.failures)} failures",
                  file=sys.stderr, flush=True)  # fmt: skip
    print(f"examples per operation: {args.examples}; phases: {', '.join(PHASES)}; seed: {args.seed}\n")
    print("| role | operations fuzzed | requests (examples) | failures | time |")
    print("|---|---|---|---|---|")
    for run, seconds in runs:
        print(f"| {run.role} | {len(run.operations)} | {run.examples:,} | {len(run.failures)} | {seconds:.0f} s |")
    failures = [f"{run.role}: {failure}" for run, _ in runs for failure in run.failures]
    for failure in failures:
        print(f"\n- {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
