"""Schemathesis against a served Tactful, once per role key: what ``tests/test_fuzz.py`` runs briefly and
``benchmarks/fuzz.py`` at length. The checks: no 5xx, every answer matching the schema of its documented status
and content type, and no status left undocumented."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import schemathesis
from cryptography.fernet import Fernet
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NotSet
from schemathesis.engine import Status, events

from api import chatwoot, zammad, zendesk
from api.settings import Settings
from tests.conftest import make_settings
from tests.factories import KEYS

CHECKS = ["not_a_server_error", "response_schema_conformance", "status_code_conformance", "content_type_conformance"]
PHASES = ["examples", "coverage", "fuzzing"]
# The four helpdesk webhooks stay in (their 401 for an unsigned body and 404 for an unknown installation must be
# documented too), but no generated body gets past their signatures: ``fuzz_webhooks`` below signs its own.


def fuzz_settings(data_dir: Path) -> Settings:
    """The service fuzzed: able to store installations, Chatwoot's webhook on, no rate limit (a 429 is documented,
    but would keep the fuzzer from reaching the routes)."""
    return make_settings(data_dir, secret_key=Fernet.generate_key().decode(), rate_limit_per_minute=0,
                         chatwoot_webhook_secret=WEBHOOK_SECRET)  # fmt: skip


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
    config.cache.enabled = False  # no .schemathesis/ of replayed crashes in the working tree: each run stands alone
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


# --- the helpdesk webhooks, signed ------------------------------------------------------------------------------
# Schemathesis cannot get past their signatures (an HMAC of the raw body, which it generates after any hook could
# sign it), so these payloads are generated here: a valid delivery of each helpdesk with up to three of its fields
# (at any depth) replaced by any JSON value or dropped, signed as the helpdesk signs it.

WEBHOOK_SECRET = "whsec-fuzz-0123456789"
_GENERATE = [hypothesis.Phase.explicit, hypothesis.Phase.generate]  # no shrinking: failures are listed, not raised
EDGE_TEXTS = ["", " ", "2026-11-30T10:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1e400",
              "incoming", "outgoing", "end-user", "agent", "Customer", "resolved", "true", "<p>hi</p>", "\x00", "42"]  # fmt: skip
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(EDGE_TEXTS)
)
ANY_JSON = st.recursive(
    _LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
_DROP = object()
DELIVERIES: dict[str, dict[str, Any]] = {
    "chatwoot": {
        "event": "message_created", "id": 11, "message_type": "incoming", "content": "My parcel is late again",
        "private": False, "created_at": "2026-11-30T10:00:00Z", "account": {"id": 1},
        "sender": {"id": 5, "name": "Ada Lovelace", "type": "contact"},
        "conversation": {"id": 7, "channel": "Channel::WebWidget", "created_at": 1764496000, "status": "open",
                         "messages": [{"id": 10, "content": "Hello?", "message_type": 0, "created_at": 1764496000}],
                         "meta": {"sender": {"id": 5, "name": "Ada", "custom_attributes": {"vip": True}},
                                  "assignee": {"id": 3, "name": "Marco"}}},
    },
    "zammad": {
        "ticket": {"id": 31, "title": "Parcel", "customer_id": 5, "customer": {"firstname": "Ada", "lastname": "B"}},
        "article": {"id": 301, "ticket_id": 31, "body": "<p>My parcel is late</p>", "content_type": "text/html",
                    "internal": False, "sender": "Customer", "type": "email", "created_at": "2026-11-30T10:00:00Z"},
    },
    "zendesk": {
        "ticket": {"id": "41", "channel": "Mail", "locale": "en-US", "requester": {"id": "501", "name": "Ada"}},
        "comment": {"id": "401", "body": "My parcel is late", "public": "true", "created_at": "2026-11-30T10:00:00Z",
                    "author": {"id": "501", "name": "Ada Lovelace", "role": "end-user"}},
    },
}  # fmt: skip


def _paths(value: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key of a delivery, at any depth."""
    if not isinstance(value, dict):
        return []
    return [p for key, inner in value.items() for p in [(*prefix, key), *_paths(inner, (*prefix, key))]]


def _changed(delivery: dict[str, Any], changes: dict[tuple[str, ...], object]) -> dict[str, Any]:
    changed = copy.deepcopy(delivery)
    for path, value in sorted(changes.items()):
        parent: object = changed
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            if value is _DROP:
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = value
    return changed


def deliveries(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """A helpdesk's delivery with up to three fields changed to any JSON value or dropped."""
    base = DELIVERIES[kind]
    values = ANY_JSON | st.just(_DROP)
    changes = st.dictionaries(st.sampled_from(_paths(base)), values, max_size=3)
    return changes.map(lambda c: _changed(base, c))


def signed(kind: str, raw: bytes) -> dict[str, str]:
    """The headers the helpdesk sends with ``raw``, signed with ``WEBHOOK_SECRET``, and a new delivery id."""
    delivery = uuid.uuid4().hex
    if kind == "chatwoot":
        seconds = int(time.time())
        return {"X-Chatwoot-Timestamp": str(seconds), "X-Chatwoot-Signature": chatwoot.sign(WEBHOOK_SECRET, raw, seconds),
                "X-Chatwoot-Delivery": delivery}  # fmt: skip
    if kind == "zammad":
        return {"X-Hub-Signature": zammad.sign(WEBHOOK_SECRET, raw), "X-Zammad-Delivery": delivery}
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return {zendesk.TIMESTAMP: stamp, zendesk.SIGNATURE: zendesk.sign(WEBHOOK_SECRET, raw, stamp),
            zendesk.INVOCATION: delivery}  # fmt: skip


def webhook_problem(response: httpx.Response) -> str | None:
    """What is wrong with a webhook's answer: a 5xx, or a 4xx not in the error shape or naming no field."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:200]}"
    if response.status_code >= 400:
        error = response.json().get("error") if response.headers.get("content-type") == "application/json" else None
        if not isinstance(error, dict) or not error.get("field") or not error.get("message"):
            return f"{response.status_code} without a field: {response.text[:200]}"
    return None


def helpdesk_installations(url: str) -> dict[str, str]:
    """A Zammad and a Zendesk installation whose webhook secret is WEBHOOK_SECRET (their helpdesks are never asked:
    Zammad's history is not fetched, the Zendesk one has no API token)."""
    made = {}
    for kind, token in (("zammad", "zammad-token"), ("zendesk", "")):
        body = {"kind": kind, "name": f"fuzz {kind}", "base_url": "http://127.0.0.1:9", "api_token": token,
                "webhook_secret": WEBHOOK_SECRET}  # fmt: skip
        r = httpx.post(
            f"{url}/v1/installations", json=body, headers={"Authorization": f"Bearer {KEYS['admin']}"}, timeout=30
        )
        assert r.status_code == 201, r.text
        made[kind] = r.json()["id"]
    return made


def fuzz_webhooks(url: str, installations: dict[str, str], *, max_examples: int, seed: int | None = None) -> RoleRun:
    """Signed deliveries to each helpdesk's webhook (``installations``: the Zammad and Zendesk installation ids whose
    webhook secret is ``WEBHOOK_SECRET``; Chatwoot's is the environment's)."""
    run = RoleRun("webhooks")
    with httpx.Client(base_url=url, timeout=30) as client:
        for kind in DELIVERIES:
            path = f"/v1/webhooks/{kind}" + (f"/{installations[kind]}" if kind in installations else "")
            run.operations.add(f"POST {path}")
            _deliver(client, kind, path, run=run, max_examples=max_examples, seed=seed)
    return run


def _deliver(client: httpx.Client, kind: str, path: str, *, run: RoleRun, max_examples: int, seed: int | None) -> None:
    @hypothesis.settings(max_examples=max_examples, deadline=None, database=None, phases=_GENERATE,
                         suppress_health_check=list(hypothesis.HealthCheck))  # fmt: skip
    @hypothesis.seed(seed)
    @hypothesis.given(deliveries(kind))
    def deliver(payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        run.examples += 1
        try:
            response = client.post(path, content=raw, headers={"Content-Type": "application/json", **signed(kind, raw)})
        except httpx.TransportError as exc:  # uvicorn drops the connection after an unhandled error's 500
            run.failures.append(f"POST {path}: {exc!r} (body {_short(payload)})")
            return
        if (problem := webhook_problem(response)) is not None:
            run.failures.append(f"POST {path}: {problem} (body {_short(payload)})")

    deliver()
