"""Bad input gets a 4xx naming the field, never a 500, and nothing is half-written."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import auth
from tests.factories import conversation


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "conversation"),
        ({"conversation": {"id": "x", "messages": "nope"}}, "conversation.messages"),
        ({"conversation": {"id": "x", "messages": []}}, "conversation.messages"),
        ({"conversation": {"id": "x", "messages": [{"role": "customer"}]}}, "conversation.messages.0.text"),
        ({"conversation": {"id": "x", "messages": [{"role": "robot", "text": "hi"}]}}, "conversation.messages.0.role"),
        ({"conversation": conversation(case={"contact_level": "medium_touch"})}, "conversation.case.contact_level"),
        ({"conversation": conversation(case={"purchase_value": "lots"})}, "conversation.case.purchase_value"),
        ({"conversation": conversation(language="xx")}, "conversation.language"),
        ({"conversation": conversation(), "draft": 42}, "draft"),
    ],
)
def test_bad_assist_bodies_name_the_field(kb_app: TestClient, body: dict[str, object], field: str) -> None:
    r = kb_app.post("/v1/assist", json=body, headers=auth("agent"))
    assert 400 <= r.status_code < 500, r.text
    error = r.json()["error"]
    assert error["field"] == field and error["code"] and error["message"]


def test_ten_megabytes_of_text_is_refused_with_the_field(kb_app: TestClient) -> None:
    body = {"conversation": conversation(messages=[{"role": "customer", "text": "a" * 10_000_000}])}
    r = kb_app.post("/v1/assist", json=body, headers=auth("agent"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "conversation.messages.0.text"


def test_a_body_over_the_limit_is_413(kb_app: TestClient) -> None:
    r = kb_app.post(
        "/v1/tone", content=b"x" * (17 * 1024 * 1024), headers={**auth("agent"), "content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


def test_invalid_json_is_400(kb_app: TestClient) -> None:
    r = kb_app.post("/v1/tone", content=b"{nope", headers={**auth("agent"), "content-type": "application/json"})
    assert r.status_code in (400, 422) and r.json()["error"]["field"] == "body"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "x", "k": 0}, "k"),
        ({"query": "x", "language": "klingon"}, "language"),
        ({"query": "x", "filters": {"language": "zz"}}, "filters.language"),
    ],
)
def test_bad_search_bodies_name_the_field(kb_app: TestClient, body: dict[str, object], field: str) -> None:
    r = kb_app.post("/v1/search", json=body, headers=auth("agent"))
    assert r.status_code == 422 and r.json()["error"]["field"] == field


def test_unknown_language_code_on_tone(kb_app: TestClient) -> None:
    r = kb_app.post("/v1/tone", json={"text": "hello there", "language": "qq"}, headers=auth("agent"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "language"


def test_unknown_ids_are_404(kb_app: TestClient) -> None:
    assert kb_app.get("/v1/jobs/nope", headers=auth("knowledge")).status_code == 404
    assert kb_app.get("/v1/documents/nope", headers=auth("knowledge")).status_code == 404
    assert kb_app.delete("/v1/documents/nope", headers=auth("knowledge")).status_code == 404
    assert kb_app.get("/v1/conversations/nope", headers=auth("supervisor")).status_code == 404
    r = kb_app.post("/v1/flags/nope/review", json={"decision": "dismissed", "note": ""}, headers=auth("supervisor"))
    assert r.status_code == 404


def _subclasses(cls: type) -> list[type]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _subclasses(sub))]


def test_every_error_code_has_one_status_in_the_one_table() -> None:
    from api.errors import STATUS, ApiError, domain_error
    from assist.errors import TactfulError
    from kb_index.errors import InvalidDocument, KnowledgeError, StoreUnavailable

    codes = {c.code for c in _subclasses(TactfulError) if c not in (TactfulError, ApiError)}
    assert codes <= set(STATUS), codes - set(STATUS)
    assert {c.code for c in _subclasses(KnowledgeError) if c is not KnowledgeError} <= set(STATUS)
    with pytest.raises(ValueError, match="unknown error code"):
        ApiError("teapot", "no such code")
    assert domain_error(StoreUnavailable("chroma is down")).code == "knowledge_base_unavailable"
    unreadable = domain_error(InvalidDocument("x.pdf: unreadable", field="file"))
    assert (unreadable.code, unreadable.field) == ("invalid_input", "file")


def test_an_unknown_method_is_405_with_the_same_error_shape(kb_app: TestClient) -> None:
    r = kb_app.delete("/v1/assist", headers=auth("agent"))
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
