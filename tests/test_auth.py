"""api/auth.py: role keys as ``Authorization: Bearer <key>``, checked through the real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.auth import role_of
from tests.conftest import auth, make_settings
from tests.factories import KEYS

# One read-only endpoint per role.
ENDPOINTS = {"agent": "/v1/demo/conversations", "supervisor": "/v1/flags", "knowledge": "/v1/gaps"}


@pytest.mark.parametrize("role", sorted(KEYS))
def test_each_key_is_its_role(tmp_path: Path, role: str) -> None:
    settings = make_settings(tmp_path)
    assert role_of(settings, f"Bearer {KEYS[role]}") == role
    assert role_of(settings, f"bearer   {KEYS[role]}  ") == role  # the scheme in any case, the key trimmed


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Bearer wrong-key-123", f"Basic {KEYS['admin']}", KEYS["admin"], "Bearer agent"],
)
def test_no_role_without_a_known_bearer_key(tmp_path: Path, header: str | None) -> None:
    assert role_of(make_settings(tmp_path), header) is None


def test_no_key_is_known_when_none_is_configured(tmp_path: Path) -> None:
    assert role_of(make_settings(tmp_path, api_keys="", dev_open=True), "Bearer ") is None


def test_roles(kb_app: TestClient) -> None:
    assert kb_app.post("/v1/search", json={"query": "x"}).status_code == 401
    assert kb_app.post("/v1/search", json={"query": "x"}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert kb_app.get("/v1/flags", headers=auth("agent")).status_code == 403
    assert kb_app.post("/v1/documents", json={}, headers=auth("agent")).status_code == 403
    assert kb_app.get("/v1/flags", headers=auth("admin")).status_code == 200
    r = kb_app.get("/v1/documents", headers=auth("supervisor"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("role", sorted(KEYS))
@pytest.mark.parametrize("needs", sorted(ENDPOINTS))
def test_each_role_reaches_its_own_endpoints_and_admin_reaches_all(kb_app: TestClient, role: str, needs: str) -> None:
    r = kb_app.get(ENDPOINTS[needs], headers=auth(role))
    if role in (needs, "admin"):
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 403
        error = r.json()["error"]
        assert error["code"] == "forbidden" and error["field"] == "authorization"
        assert f"the {role} role" in error["message"] and f"needs {needs}" in error["message"]


def test_a_missing_or_unknown_key_is_401_naming_the_header(kb_app: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-key-at-all"}, {"Authorization": f"Token {KEYS['admin']}"}):
        r = kb_app.get("/v1/flags", headers=headers)
        assert r.status_code == 401, headers
        error = r.json()["error"]
        assert error["code"] == "unauthorized" and error["field"] == "authorization"


@pytest.fixture(scope="module")
def open_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The service in development mode (``TACTFUL_DEV_OPEN=1``) with the usual keys configured too."""
    from api.app import create_app

    with TestClient(create_app(make_settings(tmp_path_factory.mktemp("open"), dev_open=True))) as client:
        yield client


def test_dev_open_admits_a_request_without_a_key_as_admin(open_app: TestClient) -> None:
    for path in ENDPOINTS.values():
        assert open_app.get(path).status_code == 200, path


def test_dev_open_still_refuses_a_wrong_key_and_keeps_roles(open_app: TestClient) -> None:
    assert open_app.get("/v1/flags", headers={"Authorization": "Bearer wrong-key-123"}).status_code == 401
    assert open_app.get("/v1/flags", headers=auth("agent")).status_code == 403
    assert open_app.get("/v1/flags", headers=auth("supervisor")).status_code == 200
