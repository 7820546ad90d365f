"""Schemathesis against ``/openapi.json`` with each role's key: no 5xx, every answer matching its documented schema,
status code and content type (a short run; ``benchmarks/fuzz.py`` runs it at length)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import serving
from tests.factories import KEYS
from tests.fuzzing import fuzz_role, fuzz_settings, fuzz_webhooks, helpdesk_installations

SEED = 20261201  # the same cases each run; benchmarks/fuzz.py varies them
# The coverage phase (boundary values, each parameter missing or of the wrong type, undocumented methods: ~60 cases
# per operation whatever the examples) for admin alone, who may call every route; the other roles get random
# examples of every operation, those they may call and those they may not (403). Undocumented methods (405) are
# left to benchmarks/fuzz.py and test_api_errors.py. All four: about 45 s on 2 idle cores.
PHASES = {"admin": ["examples", "coverage", "fuzzing"]}
MAX_EXAMPLES = {"admin": 2}


@pytest.fixture(scope="module")
def fuzzed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service on a free port, small knowledge base indexed (``fuzz_settings``: installations, Chatwoot's
    webhook, no rate limit)."""
    with serving(fuzz_settings(tmp_path_factory.mktemp("fuzz"))) as url:
        yield url


@pytest.mark.parametrize("role", sorted(KEYS))
def test_no_answer_breaks_the_documented_contract(fuzzed_service: str, role: str) -> None:
    examples = MAX_EXAMPLES.get(role, 6)
    phases = PHASES.get(role, ["fuzzing"])
    run = fuzz_role(fuzzed_service, role, max_examples=examples, seed=SEED, phases=phases, unexpected_methods=False)
    assert len(run.operations) >= 40 and run.examples >= 3 * len(run.operations), run
    assert not run.failures, "\n".join(run.failures)


def test_signed_webhook_deliveries_never_answer_5xx(fuzzed_service: str) -> None:
    """Each helpdesk's delivery, valid but for up to three fields (any JSON, or none), signed: never a 5xx, and a 4xx
    names the field."""
    run = fuzz_webhooks(fuzzed_service, helpdesk_installations(fuzzed_service), max_examples=60, seed=SEED)
    assert run.examples >= 150 and not run.failures, "\n".join(run.failures)
