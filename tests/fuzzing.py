"""Schemathesis against a served Tactful, once per role key: what ``tests/test_fuzz.py`` runs briefly and
``benchmarks/fuzz.py`` at length. The checks: no 5xx, every answer matching the schema of its documented status
and content type, and no status left undocumented."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NotSet
from schemathesis.engine import Status, events

from tests.factories import KEYS

CHECKS = ["not_a_server_error", "response_schema_conformance", "status_code_conformance", "content_type_conformance"]
PHASES = ["examples", "coverage", "fuzzing"]
# What is not fuzzed, and why: the four helpdesk webhooks answer 401 to anything unsigned (the signature covers the
# raw body, so no generated body gets past it: tests/test_webhooks.py sends signed ones) and 404 for an unknown
# installation; they stay in, since those 4xx must still be documented, but reach no deeper.
EXCLUDED: tuple[str, ...] = ()


@dataclass
class RoleRun:
    """One role's fuzzing: the operations reached, the requests made, and each failure as one line."""

    role: str
    operations: set[str] = field(default_factory=set)
    examples: int = 0
    failures: list[str] = field(default_factory=list)


def fuzz_role(
    url: str,
    role: str,
    *,
    max_examples: int,
    seed: int | None = None,
    phases: Sequence[str] = PHASES,
    unexpected_methods: bool = True,
) -> RoleRun:
    """Schemathesis over every operation of ``url``'s ``/openapi.json`` with ``role``'s key (``unexpected_methods``:
    the coverage phase also calls each path with every method it does not document, expecting a 405)."""
    config = SchemathesisConfig()
    config.update(seed=seed, max_failures=None)
    project = config.projects.override
    project.update(headers={"Authorization": f"Bearer {KEYS[role]}"}, request_timeout=30)
    project.phases.update(phases=list(phases))
    if not unexpected_methods:
        project.phases.coverage.unexpected_methods = set()
    project.checks.update(included_check_names=CHECKS)
    project.generation.update(max_examples=max_examples, no_shrink=True)
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)
    run = RoleRun(role)
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _record(run, event)
        elif isinstance(event, events.NonFatalError):
            run.failures.append(f"{event.label}: error {event.value!r}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    return run


def _record(run: RoleRun, event: events.ScenarioFinished) -> None:
    recorder = event.recorder
    run.operations.add(recorder.label)
    run.examples += len(recorder.cases)
    if event.status not in (Status.FAILURE, Status.ERROR):
        return
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                case = recorder.cases[case_id].value
                run.failures.append(
                    f"{recorder.label} [{check.name}] {failure.title}: {failure.message} (query {case.query!r}, "
                    f"body {_short(case.body)})"
                )


def _short(body: object) -> str:
    text = "none" if isinstance(body, NotSet) else repr(body)
    return text if len(text) <= 300 else text[:300] + "…"
