"""Zendesk's signed app JWT: with ``signedUrls`` on, Zendesk opens the sidebar with a POST whose form field ``token``
is a JWT signed RS256 with the app's private key; Tactful verifies it with the app's public key (the installation's
``app_public_key``) before trusting who the agent is.

What is checked (Zendesk's "Authenticating Zendesk in your server-side app"; the claims' exact shapes are read from
its documentation and tutorials, not from a live account: docs/integrations.md lists the assumptions):
- the header's ``alg`` is ``RS256`` (``none``, HMAC and anything else refused) and the signature verifies;
- ``exp`` is in the future (``nbf``, when present, is past), allowing ``LEEWAY_S`` of clock skew;
- ``iss`` is the installation's Zendesk host (``acme.zendesk.com``, with or without ``https://``) or subdomain;
- ``aud`` (Zendesk's app installation URL, ``https://acme.zendesk.com/api/v2/apps/installations/<id>.json``) is on
  that host;
- ``sub`` names the agent: Zendesk's user id, or a URL ending ``/users/<id>.json``; ``name``, when present, is kept.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from api.secrets import rs256_signed, rsa_public_key

LEEWAY_S = 60
MAX_TOKEN_CHARS = 16_000
_USER_URL = re.compile(r"/users/(\d+)(?:\.json)?$")


class SignedUrlError(ValueError):
    """The JWT is not one Zendesk signed for this installation, or no longer valid; the message says why."""


@dataclass(frozen=True)
class ZendeskAgent:
    id: str
    name: str | None


def _part(text: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error) as exc:
        raise SignedUrlError(f"the JWT's {what} is not base64url") from exc


def _json(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_part(text, what))
    except ValueError as exc:
        raise SignedUrlError(f"the JWT's {what} is not JSON") from exc
    if not isinstance(value, dict):
        raise SignedUrlError(f"the JWT's {what} is not a JSON object")
    return value


def _host(value: object) -> str:
    text = str(value).strip().lower().rstrip("/")
    return (urlsplit(text).hostname or "") if "://" in text else text.split("/")[0]


def _seconds(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SignedUrlError(f"the JWT's {name} is not a time in seconds")
    return float(value)


def verify_app_jwt(token: str, *, public_key_pem: str, base_url: str, now: float | None = None) -> ZendeskAgent:
    """The agent a Zendesk app JWT vouches for; ``SignedUrlError`` when it is forged, expired or for another
    account."""
    parts = token.strip().split(".")
    if len(token) > MAX_TOKEN_CHARS or len(parts) != 3:
        raise SignedUrlError("the token is not a JWT (three base64url parts)")
    header, claims = _json(parts[0], "header"), _json(parts[1], "payload")
    if header.get("alg") != "RS256":
        raise SignedUrlError(f"the JWT's alg is {header.get('alg')!r}: only RS256 is accepted")
    if not rs256_signed(
        rsa_public_key(public_key_pem), f"{parts[0]}.{parts[1]}".encode(), _part(parts[2], "signature")
    ):
        raise SignedUrlError("the JWT's signature does not match the installation's app public key")
    at = time.time() if now is None else now
    expires = _seconds(claims, "exp")
    if expires is None:
        raise SignedUrlError("the JWT has no exp")
    if expires + LEEWAY_S <= at:
        raise SignedUrlError("the JWT has expired: reload the app in Zendesk")
    not_before = _seconds(claims, "nbf")
    if not_before is not None and not_before - LEEWAY_S > at:
        raise SignedUrlError("the JWT is not valid yet (nbf)")
    host = _host(base_url)
    if "iss" not in claims or _host(claims["iss"]) not in (host, host.split(".")[0]):
        raise SignedUrlError(f"the JWT's iss {claims.get('iss')!r} is not this installation's Zendesk ({host})")
    found = claims.get("aud")
    audiences: list[Any] = found if isinstance(found, list) else [found]
    if not any(a is not None and _host(a) == host for a in audiences):
        raise SignedUrlError(f"the JWT's aud {claims.get('aud')!r} is not an app installation on {host}")
    return ZendeskAgent(id=_agent_id(claims.get("sub")), name=_name(claims.get("name")))


def _agent_id(sub: object) -> str:
    text = str(sub).strip() if isinstance(sub, str | int) and not isinstance(sub, bool) else ""
    found = _USER_URL.search(text)
    agent = found.group(1) if found else text
    if not agent.isdigit():
        raise SignedUrlError("the JWT's sub does not name a Zendesk user (its id or …/users/<id>.json)")
    return agent


def _name(value: object) -> str | None:
    return (value.strip()[:200] or None) if isinstance(value, str) else None
