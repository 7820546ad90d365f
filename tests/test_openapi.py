"""``/openapi.json`` describes every answer: each JSON route under ``/v1`` has a typed 2xx schema, and real answers
validate against the model their route declares and carry exactly the keys the code returns."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from api import gaps as gaps_module
from api.chatwoot import sign
from api.container import DEMO_CONVERSATIONS
from api.persistence import knowledge_repo, review_repo
from api.routes import agent, health, knowledge, supervisor, webhooks
from api.schemas import AssistOut, StreamAssist, StreamEvent, StreamPart
from tests.conftest import auth, make_settings
from tests.factories import conversation

JSON = "application/json"
SECRET = "whsec-openapi-0123456789"


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _names_its_fields(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """An object schema with properties, or a union of them (not ``{}`` nor a bare ``dict[str, Any]``)."""
    schema = _resolve(schema, components)
    variants = schema.get("anyOf") or schema.get("oneOf")
    if variants:
        return all(_names_its_fields(v, components) for v in variants)
    return bool(schema.get("properties"))


def test_every_json_route_under_v1_has_a_typed_2xx_answer(kb_app: TestClient) -> None:
    spec = kb_app.get("/openapi.json").json()
    components = spec["components"]["schemas"]
    problems, typed = [], 0
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            answers = {code: a for code, a in operation["responses"].items() if code.startswith("2")}
            if not answers:
                problems.append(f"{where}: no 2xx answer")
            for code, answer in answers.items():
                content = answer.get("content", {})
                if code == "204":
                    if content:
                        problems.append(f"{where}: a 204 with a body")
                elif JSON in content:
                    typed += 1
                    if not _names_its_fields(content[JSON].get("schema", {}), components):
                        problems.append(f"{where} {code}: an empty or untyped schema")
                elif not content:
                    problems.append(f"{where} {code}: no content described")
    assert not problems, problems
    assert typed >= 15  # the check above really looked at the routes


def test_the_stream_is_documented_as_server_sent_events(kb_app: TestClient) -> None:
    answer = kb_app.get("/openapi.json").json()["paths"]["/v1/assist/stream"]["post"]["responses"]["200"]
    assert list(answer["content"]) == ["text/event-stream"]


def test_pages_stay_out_of_the_schema(kb_app: TestClient) -> None:
    paths = kb_app.get("/openapi.json").json()["paths"]
    assert not {"/", "/sidebar", "/supervisor", "/knowledge"} & set(paths)


def _declared(method: str, path: str) -> TypeAdapter[Any]:
    """The response model of ``method path`` as its router declares it (the app includes these routers)."""
    route = next(
        r
        for router in (agent.router, health.router, knowledge.router, supervisor.router, webhooks.router)
        for r in router.routes
        if isinstance(r, APIRoute) and r.path == path and method in (r.methods or ())
    )
    assert route.response_model is not None, f"{method} {path} declares no response model"
    adapter: TypeAdapter[Any] = TypeAdapter(route.response_model)
    return adapter


def _answer(client: TestClient, method: str, path: str, *, role: str = "", status: int = 200, **kwargs: Any) -> Any:
    """The answer of ``method path`` (a template; ``kwargs`` fill it, ``json`` is the body), validated against the
    route's declared response model."""
    body = kwargs.pop("json", None)
    r = client.request(method, path.format(**kwargs), json=body, headers=auth(role) if role else {})
    assert r.status_code == status, r.text
    _declared(method, path).validate_python(r.json())
    return r.json()


def test_health_answer_validates(kb_app: TestClient) -> None:
    assert _answer(kb_app, "GET", "/healthz") == {"status": "ok"}


def test_knowledge_answers_validate_and_keep_every_key(kb_app: TestClient) -> None:
    container = kb_app.app.state.container  # type: ignore[attr-defined]
    jobs = _answer(kb_app, "GET", "/v1/jobs", role="knowledge")["items"]
    assert jobs and {"chunk_counts", "created_at", "finished_at", "kind"} <= set(jobs[0])
    job = _answer(kb_app, "GET", "/v1/jobs/{job_id}", role="knowledge", job_id=jobs[0]["id"])
    assert job == container.knowledge.job(jobs[0]["id"])

    listing = _answer(kb_app, "GET", "/v1/documents", role="knowledge")
    assert listing["total"] >= 1 and all("text" not in d for d in listing["items"])
    document = _answer(kb_app, "GET", "/v1/documents/{document_id}", role="knowledge", document_id="rimborsi-it")
    with container.db.session() as s:
        assert document == knowledge_repo.document_json(
            s.get(knowledge_repo.DocumentRow, "rimborsi-it"), with_text=True
        )

    question = "Do you sell gift cards shaped like dinosaurs for the moon base?"
    _answer(kb_app, "POST", "/v1/search", role="agent", json={"query": question})
    gaps = _answer(kb_app, "GET", "/v1/gaps", role="knowledge")
    with container.db.session() as s:
        assert gaps == {
            "items": gaps_module.list_gaps(s, limit=100),
            "threshold": container.settings.gap_threshold,
            "missing_versions": gaps_module.missing_versions(s),
        }
    assert any(g["question"] == question for g in gaps["items"])


def test_agent_answers_validate_and_keep_every_key(kb_app: TestClient) -> None:
    container = kb_app.app.state.container  # type: ignore[attr-defined]
    assisted = _answer(kb_app, "POST", "/v1/assist", role="agent", json={"conversation": conversation(id="openapi-1")})
    feedback = {"suggestion_id": assisted["suggestion_id"], "item": "empathy", "index": 0, "action": "edited"}
    assert kb_app.post("/v1/feedback", json=feedback, headers=auth("agent")).status_code == 204
    report = _answer(kb_app, "GET", "/v1/feedback/report", role="agent")
    with container.db.session() as s:
        assert report == {"items": review_repo.feedback_report(s)}  # an action never taken stays absent

    demo = _answer(kb_app, "GET", "/v1/demo/conversations", role="agent")
    assert demo == {"items": json.loads(DEMO_CONVERSATIONS.read_text(encoding="utf-8"))}

    tone = _answer(kb_app, "POST", "/v1/tone", role="agent", json={"text": "Obviously you did it wrong."})
    assert 0 <= tone["score"] <= 1


def test_supervisor_answers_validate_and_keep_every_key(kb_app: TestClient) -> None:
    container = kb_app.app.state.container  # type: ignore[attr-defined]
    sarcastic = conversation(
        id="openapi-2",
        messages=[
            {"role": "customer", "text": "My order still has not arrived, this is the third time I write!"},
            {"role": "agent", "text": "Obviously you entered the wrong address. Good luck with that."},
        ],
    )
    _answer(kb_app, "POST", "/v1/assist", role="agent", json={"conversation": sarcastic})
    flags = _answer(kb_app, "GET", "/v1/flags", role="supervisor")["items"]
    flag = next(f for f in flags if f["conversation_id"] == "openapi-2")
    review = {"decision": "confirmed", "note": "checked"}
    reviewed = _answer(kb_app, "POST", "/v1/flags/{flag_id}/review", role="supervisor", flag_id=flag["id"], json=review)
    assert reviewed["status"] == "confirmed"

    stats = _answer(kb_app, "GET", "/v1/flags/stats", role="supervisor")
    bundle = _answer(
        kb_app, "GET", "/v1/conversations/{conversation_id}", role="supervisor", conversation_id="openapi-2"
    )
    with container.db.session() as s:
        assert stats == review_repo.flag_stats(s)
        assert bundle == review_repo.conversation_bundle(s, "openapi-2")
    assert bundle["assists"] and bundle["flags"]


@pytest.fixture(scope="module")
def webhook_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app that takes Chatwoot's webhooks (nothing indexed: these events are not assessed)."""
    from api.app import create_app

    app = create_app(make_settings(tmp_path_factory.mktemp("openapi_webhooks"), chatwoot_webhook_secret=SECRET))
    with TestClient(app) as client:
        yield client


def _signed(event: dict[str, Any], delivery: str) -> dict[str, Any]:
    raw = json.dumps(event).encode()
    stamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Chatwoot-Timestamp": str(stamp),
        "X-Chatwoot-Signature": sign(SECRET, raw, stamp),
        "X-Chatwoot-Delivery": delivery,
    }
    return {"content": raw, "headers": headers}


def test_webhook_answers_validate_with_only_their_keys(webhook_app: TestClient) -> None:
    model = _declared("POST", "/v1/webhooks/chatwoot")
    delivery = str(uuid.uuid4())
    resolved = {"event": "conversation_status_changed", "status": "resolved", "id": 4242}
    answers = [
        webhook_app.post("/v1/webhooks/chatwoot", **_signed(resolved, delivery)),
        webhook_app.post("/v1/webhooks/chatwoot", **_signed(resolved, delivery)),
        webhook_app.post("/v1/webhooks/chatwoot", **_signed({"event": "contact_created"}, str(uuid.uuid4()))),
    ]
    assert [(a.status_code, a.json()) for a in answers] == [
        (200, {"status": "ignored", "conversation_id": "chatwoot-4242"}),  # never heard of
        (200, {"status": "duplicate", "delivery": delivery}),
        (200, {"status": "ignored", "reason": "event 'contact_created'"}),
    ]
    for answer in answers:
        model.validate_python(answer.json())


def test_every_api_route_documents_its_errors_in_the_one_error_shape() -> None:
    from api.app import create_app

    spec = create_app(make_settings(Path(tempfile.mkdtemp()) / "data")).openapi()
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's own 422 shape is never answered
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status in ("401", "422"):
                content = operation["responses"][status]["content"]  # JSON even where the answer is a stream or CSV
                assert content == {JSON: {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}, (method, path, status)


def test_each_event_of_the_stream_validates_against_its_documented_schema(kb_app: TestClient) -> None:
    """Schemathesis checks each server-sent event against the 200's schema: one of the three events, whose
    ``data`` is JSON of the Assistance (``assist``: with ``pending``), of a part, or of the final Assistance."""
    spec = kb_app.get("/openapi.json").json()
    (schema,) = spec["paths"]["/v1/assist/stream"]["post"]["responses"]["200"]["content"].values()
    events = {ref["$ref"].rsplit("/", 1)[-1] for ref in schema["schema"]["oneOf"]}
    assert events == {"AssistEvent", "PartEvent", "DoneEvent"}
    body = {"conversation": conversation(id="openapi-stream")}
    with kb_app.stream("POST", "/v1/assist/stream", json=body, headers=auth("agent")) as r:
        raw = "".join(r.iter_text())
    names = []
    for block in filter(None, raw.strip().split("\n\n")):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        event = TypeAdapter(StreamEvent).validate_python(fields)
        model = {"assist": StreamAssist, "part": StreamPart, "done": AssistOut}[event.event]
        model.model_validate_json(event.data)
        names.append(event.event)
    assert names[0] == "assist" and names[-1] == "done"


def test_a_tone_gate_event_stored_before_is_documented_as_200(kb_app: TestClient) -> None:
    responses = kb_app.get("/openapi.json").json()["paths"]["/v1/tone-gate/events"]["post"]["responses"]
    assert responses["200"]["content"][JSON]["schema"] == {"$ref": "#/components/schemas/ToneGateEventOut"}
    assert responses["201"]["content"][JSON]["schema"] == {"$ref": "#/components/schemas/ToneGateEventOut"}
