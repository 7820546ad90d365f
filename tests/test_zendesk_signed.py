"""Zendesk's signed app JWT (api/zendesk_jwt.py): the sidebar opened with ``POST /sidebar`` and a JWT signed RS256
by a key pair made here is exchanged for a short-lived agent token; anything forged, expired or for another
account is refused with the reason and no token."""

from __future__ import annotations

import base64
import html
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from fastapi.testclient import TestClient

from api.zendesk_jwt import SignedUrlError, verify_app_jwt
from tests.conftest import auth, make_settings

BASE_URL = "https://acme.zendesk.com"
SECRET = "hook-secret-123"
TOKEN_ATTRIBUTE = re.compile(r'data-agent-token="([^"]*)"')


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _pem(key: Any) -> str:
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return str(public.decode())


def _jwt(key: rsa.RSAPrivateKey, claims: dict[str, Any], *, alg: str = "RS256") -> str:
    signed = f"{_b64(json.dumps({'alg': alg, 'typ': 'JWT'}).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = b"" if alg == "none" else key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signed}.{_b64(signature)}"


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": "acme.zendesk.com", "aud": f"{BASE_URL}/api/v2/apps/installations/4242.json",
              "sub": f"{BASE_URL}/api/v2/users/777.json", "name": "Zoe Agent", "iat": now, "exp": now + 300,
              "qsh": "x"}  # fmt: skip
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from api.app import create_app

    settings = make_settings(tmp_path_factory.mktemp("zendesk_signed"), secret_key=Fernet.generate_key().decode())
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def installation(app: TestClient, key: rsa.RSAPrivateKey) -> str:
    body = {"kind": "zendesk", "name": "Acme", "base_url": BASE_URL, "webhook_secret": SECRET,
            "app_public_key": _pem(key)}  # fmt: skip
    r = app.post("/v1/installations", json=body, headers=auth("admin"))
    assert r.status_code == 201, r.text
    assert r.json()["app_public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    installation: str = r.json()["id"]
    return installation


def _open(app: TestClient, installation: str, token: str | None) -> Any:
    form = {"token": token} if token is not None else {}
    return app.post(f"/sidebar?helpdesk=zendesk&installation={installation}", data=form)


def _embedded(page: Any) -> dict[str, Any] | None:
    found = TOKEN_ATTRIBUTE.search(page.text)
    return json.loads(html.unescape(found.group(1))) if found else None


def test_a_signed_jwt_opens_the_sidebar_with_an_agent_token_that_assists(
    app: TestClient, key: rsa.RSAPrivateKey, installation: str
) -> None:
    page = _open(app, installation, _jwt(key, _claims()))
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    issued = _embedded(page)
    assert issued is not None and issued["agent"] == {"id": "777", "name": "Zoe Agent"}
    assert issued["installation_id"] == installation and issued["conversation_id"] is None
    headers = {"Authorization": f"Bearer {issued['token']}"}
    conversation = {"id": f"zendesk-{installation}-12", "messages": [{"role": "customer", "text": "Where is it?"}]}
    assisted = app.post("/v1/assist", json={"conversation": conversation}, headers=headers)
    assert assisted.status_code == 200, assisted.text
    foreign = app.post("/v1/assist", json={"conversation": conversation | {"id": "zendesk-other-12"}}, headers=headers)
    assert foreign.status_code == 403
    assert app.get("/v1/follow-ups", headers=headers).status_code == 200  # the agent is the JWT's user


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("expired", "expired"),
        ("wrong key", "signature"),
        ("wrong issuer", "iss"),
        ("alg none", "alg"),
        ("HS256", "alg"),
        ("no sub", "sub"),
        ("no exp", "exp"),
        ("no aud", "aud"),
        ("another account's aud", "aud"),
        ("not a jwt", "JWT"),
        ("tampered", "signature"),
    ],
)
def test_a_bad_jwt_is_refused_with_the_reason_and_no_token(
    app: TestClient, key: rsa.RSAPrivateKey, installation: str, case: str, why: str
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    valid = _jwt(key, _claims())
    head, _body, signature = valid.split(".")
    token = {
        "expired": _jwt(key, _claims(exp=int(time.time()) - 600)),
        "wrong key": _jwt(other, _claims()),
        "wrong issuer": _jwt(key, _claims(iss="evil.zendesk.com")),
        "alg none": _jwt(key, _claims(), alg="none"),
        "HS256": _jwt(key, _claims(), alg="HS256"),
        "no sub": _jwt(key, _claims(sub=None)),
        "no exp": _jwt(key, _claims(exp=None)),
        "no aud": _jwt(key, _claims(aud=None)),
        "another account's aud": _jwt(key, _claims(aud="https://evil.zendesk.com/api/v2/apps/installations/1.json")),
        "not a jwt": "not-a-jwt",
        "tampered": f"{head}.{_b64(json.dumps(_claims(sub='1')).encode())}.{signature}",
    }[case]
    page = _open(app, installation, token)
    assert page.status_code == 401, (case, page.status_code)
    assert _embedded(page) is None and "data-sign-in-error" in page.text and why in html.unescape(page.text)


def test_signed_urls_off_unknown_installations_and_missing_keys(
    app: TestClient, key: rsa.RSAPrivateKey, installation: str
) -> None:
    plain = _open(app, installation, None)
    assert plain.status_code == 200 and _embedded(plain) is None and "data-sign-in-error" not in plain.text
    assert _open(app, "nope", _jwt(key, _claims())).status_code == 404
    assert app.post("/sidebar?helpdesk=zendesk", data={"token": _jwt(key, _claims())}).status_code == 422
    body = {"kind": "zendesk", "name": "No key", "base_url": BASE_URL, "webhook_secret": SECRET}
    keyless = app.post("/v1/installations", json=body, headers=auth("admin")).json()["id"]
    refused = _open(app, keyless, _jwt(key, _claims()))
    assert refused.status_code == 409 and "app_public_key" in refused.text and _embedded(refused) is None
    patched = app.patch(f"/v1/installations/{keyless}", json={"app_public_key": _pem(key)}, headers=auth("admin"))
    assert patched.status_code == 200 and patched.json()["app_public_key"]
    assert _embedded(_open(app, keyless, _jwt(key, _claims()))) is not None


@pytest.mark.parametrize(
    "bad", ["not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "ec", "short rsa"]
)
def test_an_app_public_key_must_be_a_pem_rsa_public_key(app: TestClient, installation: str, bad: str) -> None:
    pem = {
        "ec": lambda: _pem(ec.generate_private_key(ec.SECP256R1())),
        "short rsa": lambda: _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
    }.get(bad, lambda: bad)()
    body = {"kind": "zendesk", "name": "x", "base_url": BASE_URL, "webhook_secret": SECRET, "app_public_key": pem}
    created = app.post("/v1/installations", json=body, headers=auth("admin"))
    assert created.status_code == 422 and created.json()["error"]["field"] == "app_public_key", created.text
    patched = app.patch(f"/v1/installations/{installation}", json={"app_public_key": pem}, headers=auth("admin"))
    assert patched.status_code == 422 and patched.json()["error"]["field"] == "app_public_key"


def test_the_issuer_may_be_the_host_with_a_scheme_or_the_subdomain(key: rsa.RSAPrivateKey) -> None:
    for issuer in ("acme.zendesk.com", "https://acme.zendesk.com/", "acme"):
        agent = verify_app_jwt(_jwt(key, _claims(iss=issuer, sub=42)), public_key_pem=_pem(key), base_url=BASE_URL)
        assert agent.id == "42"
    with pytest.raises(SignedUrlError, match="nbf"):
        verify_app_jwt(_jwt(key, _claims(nbf=int(time.time()) + 3600)), public_key_pem=_pem(key), base_url=BASE_URL)


def test_the_installation_command_takes_the_app_public_key_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key: rsa.RSAPrivateKey
) -> None:
    from api.cli import main

    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TACTFUL_SECRET_KEY", Fernet.generate_key().decode())
    pem = tmp_path / "app.pem"
    pem.write_text(_pem(key))
    assert main(["installation", "add", "--kind", "zendesk", "--name", "Z", "--base-url", BASE_URL,
                 "--webhook-secret", SECRET, "--app-public-key", str(pem)]) == 0  # fmt: skip
    added = json.loads(capsys.readouterr().out)
    assert added["app_public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    assert main(["installation", "update", added["id"], "--app-public-key", str(bad)]) == 2
    assert "app_public_key" in capsys.readouterr().err
    assert main(["installation", "update", added["id"], "--app-public-key", str(tmp_path / "missing.pem")]) == 2
