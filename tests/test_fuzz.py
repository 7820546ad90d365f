"""Schemathesis against ``/openapi.json`` with each role's key: no 5xx, every answer matching its documented schema,
status code and content type (a short run; ``benchmarks/fuzz.py`` runs it at length)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from tests.conftest import make_settings, serving
from tests.factories import KEYS
from tests.fuzzing import fuzz_role

SEED = 20261201  # the same cases each run; benchmarks/fuzz.py varies them
# The coverage phase (boundary values, each parameter missing or of the wrong type, undocumented methods: ~60 cases
# per operation whatever the examples) for admin alone, who may call every route; the other roles get random
# examples of every operation, those they may call and those they may not (403). Undocumented methods (405) are
# left to benchmarks/fuzz.py and test_api_errors.py. All four: about 45 s on 2 idle cores.
PHASES = {"admin": ["examples", "coverage", "fuzzing"]}
MAX_EXAMPLES = {"admin": 2}


@pytest.fixture(scope="module")
def fuzzed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service on a free port (small knowledge base indexed), able to store installations, no rate limit (a
    429 is documented, but would stop the fuzzer reaching the routes)."""
    settings = make_settings(
        tmp_path_factory.mktemp("fuzz"), secret_key=Fernet.generate_key().decode(), rate_limit_per_minute=0
    )
    with serving(settings) as url:
        yield url


@pytest.mark.parametrize("role", sorted(KEYS))
def test_no_answer_breaks_the_documented_contract(fuzzed_service: str, role: str) -> None:
    examples = MAX_EXAMPLES.get(role, 6)
    phases = PHASES.get(role, ["fuzzing"])
    run = fuzz_role(fuzzed_service, role, max_examples=examples, seed=SEED, phases=phases, unexpected_methods=False)
    assert len(run.operations) >= 40 and run.examples >= 3 * len(run.operations), run
    assert not run.failures, "\n".join(run.failures)
