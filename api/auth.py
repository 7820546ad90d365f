"""Who is asking: role keys (``Authorization: Bearer <key>``; admin may do everything) and agents' short-lived
tokens (``Authorization: Bearer tat1.…``, role ``agent``, api/agent_tokens.py)."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Request

from api.agent_tokens import AgentClaims, AgentTokens, is_agent_token
from api.errors import ApiError
from api.settings import Settings

_UNREAD = object()


def role_of(settings: Settings, header: str | None) -> str | None:
    """The role of the bearer key in ``header``, or None when absent or unknown."""
    given = _bearer(header)
    if given is None:
        return None
    for key, role in settings.keys().items():
        if hmac.compare_digest(key.encode(), given.encode()):
            return role
    return None


def _bearer(header: str | None) -> str | None:
    if not header or not header.lower().startswith("bearer "):
        return None
    return header[7:].strip()


def token_claims(request: Request) -> AgentClaims | None:
    """The agent token's claims when the request carries one (401 when it is forged or expired), else None."""
    if getattr(request.state, "agent_claims", _UNREAD) is _UNREAD:
        given = _bearer(request.headers.get("authorization"))
        settings: Settings = request.app.state.container.settings
        claims = AgentTokens(settings).read(given) if given and is_agent_token(given) else None
        request.state.agent_claims = claims
    found: AgentClaims | None = request.state.agent_claims
    return found


def require(*roles: str) -> Callable[[Request], str]:
    """A dependency admitting the given roles (and admin); 401 without a known key or a valid agent token, 403
    with the wrong role."""

    def check(request: Request) -> str:
        settings: Settings = request.app.state.container.settings
        header = request.headers.get("authorization")
        role = "agent" if token_claims(request) is not None else role_of(settings, header)
        if role is None:
            if settings.dev_open and not header:
                return "admin"
            raise ApiError(
                "unauthorized",
                "a valid key or agent token is required: Authorization: Bearer <key>",
                field="authorization",
            )
        if role != "admin" and role not in roles:
            raise ApiError(
                "forbidden", f"the {role} role may not do this (needs {' or '.join(roles)})", field="authorization"
            )
        return role

    return check


def check_conversation(claims: AgentClaims | None, conversation_id: str | None, *, field: str) -> None:
    """403 when an agent token may not act on ``conversation_id`` (keys may act on any)."""
    if claims is not None and not claims.may_act_on(conversation_id):
        bound = claims.conversation_id or f"installation {claims.installation_id}'s conversations"
        raise ApiError("forbidden", f"this agent token acts on {bound} only, not on {conversation_id!r}", field=field)


def acting_agent(claims: AgentClaims | None, given: str | None, *, field: str = "agent") -> str | None:
    """The agent a request acts as: a token's own agent (403 when the request names another), or what a key's
    request says."""
    if claims is None:
        return given
    if given and given != claims.agent_id:
        raise ApiError("forbidden", f"this agent token is agent {claims.agent_id}'s, not {given}'s", field=field)
    return claims.agent_id
