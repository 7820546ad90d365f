"""Short-lived agent tokens: what an agent of a helpdesk installation signs in with instead of a shared key.

Tactful issues one after checking who the agent is (Zendesk's signed app JWT, or Chatwoot's and Zammad's APIs with
the installation's token) and accepts it as ``Authorization: Bearer <token>`` beside the role keys, with the role
``agent``. The token is ``tat1.<payload>.<signature>``: the payload is base64url JSON (installation, agent id and
name, the conversation it is bound to if any, when it expires and when the agent was first checked), the signature
base64url(HMAC-SHA256) with a key derived from ``TACTFUL_AGENT_TOKEN_SECRET`` (else ``TACTFUL_SECRET_KEY``, else the
API keys), so rotating that secret ends every token at once. Nothing is stored server-side.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from api.errors import ApiError
from api.settings import Settings

PREFIX = "tat1."
_FIELD = "authorization"


@dataclass(frozen=True)
class AgentClaims:
    """Who a token speaks for: an installation's agent, for ``conversation_id`` only when set, until ``exp``."""

    installation_id: str
    agent_id: str
    agent_name: str | None
    conversation_id: str | None
    exp: int  # Unix seconds
    auth_at: int  # when the helpdesk last vouched for the agent: refreshing never moves it

    def may_act_on(self, conversation_id: str | None) -> bool:
        """A bound token acts on its conversation only; an unbound one on its installation's conversations
        (``<kind>-<installation id>-<remote id>``); neither on a request naming no conversation of theirs."""
        if conversation_id is None:
            return True
        if self.conversation_id is not None:
            return conversation_id == self.conversation_id
        _kind, _sep, rest = conversation_id.partition("-")
        return rest.startswith(f"{self.installation_id}-")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def is_agent_token(value: str) -> bool:
    return value.startswith(PREFIX)


def token_json(token: str, claims: AgentClaims, *, now: float | None = None) -> dict[str, Any]:
    """The answer that hands a token to the sidebar (``AgentTokenOut``)."""
    at = time.time() if now is None else now
    return {
        "token": token,
        "token_type": "bearer",
        "expires_at": datetime.fromtimestamp(claims.exp, tz=UTC).isoformat(),
        "expires_in": max(0, int(claims.exp - at)),
        "installation_id": claims.installation_id,
        "conversation_id": claims.conversation_id,
        "agent": {"id": claims.agent_id, "name": claims.agent_name},
    }


class AgentTokens:
    """Issue, read and refresh agent tokens with the settings' key and lifetimes."""

    def __init__(self, settings: Settings) -> None:
        secret = (
            settings.agent_token_secret.get_secret_value()
            or settings.secret_key.get_secret_value()
            or settings.api_keys.get_secret_value()
        )
        self._key = hashlib.sha256(b"tactful agent tokens\x00" + secret.encode()).digest()
        self.ttl_s = settings.agent_token_ttl_s
        self.max_age_s = settings.agent_token_max_age_s

    def issue(
        self,
        *,
        installation_id: str,
        agent_id: str,
        agent_name: str | None = None,
        conversation_id: str | None = None,
        now: float | None = None,
    ) -> tuple[str, AgentClaims]:
        """A new token for an agent the helpdesk has just vouched for."""
        at = int(time.time() if now is None else now)
        claims = AgentClaims(installation_id, agent_id, agent_name, conversation_id, exp=at + self.ttl_s, auth_at=at)
        return self._sign(claims), claims

    def refresh(self, claims: AgentClaims, *, now: float | None = None) -> tuple[str, AgentClaims]:
        """The same token with a new expiry, while the helpdesk's check is younger than ``max_age_s``."""
        at = int(time.time() if now is None else now)
        if at - claims.auth_at >= self.max_age_s:
            raise ApiError("unauthorized", "this agent token is too old to refresh: open the sidebar again in the "
                           "helpdesk to sign in anew", field=_FIELD)  # fmt: skip
        fresh = replace(claims, exp=min(at + self.ttl_s, claims.auth_at + self.max_age_s))
        return self._sign(fresh), fresh

    def read(self, token: str, *, now: float | None = None) -> AgentClaims:
        """The claims of a token signed here and not expired; ``ApiError`` (401) saying what is wrong otherwise."""
        body, dot, signature = token.removeprefix(PREFIX).partition(".")
        if not token.startswith(PREFIX) or not dot:
            raise ApiError("unauthorized", "the agent token is malformed", field=_FIELD)
        if not hmac.compare_digest(signature.encode(), self._signature(body).encode()):
            raise ApiError("unauthorized", "the agent token's signature does not match: it was not issued by this "
                           "Tactful or was altered", field=_FIELD)  # fmt: skip
        try:
            claims = AgentClaims(**json.loads(_unb64(body)))
        except (ValueError, TypeError, binascii.Error) as exc:
            raise ApiError("unauthorized", "the agent token is malformed", field=_FIELD) from exc
        if claims.exp <= (time.time() if now is None else now):
            raise ApiError("unauthorized", "the agent token has expired: the sidebar asks for a new one (open it "
                           "again if it does not)", field=_FIELD)  # fmt: skip
        return claims

    def _sign(self, claims: AgentClaims) -> str:
        body = _b64(json.dumps(asdict(claims), separators=(",", ":"), sort_keys=True).encode())
        return f"{PREFIX}{body}.{self._signature(body)}"

    def _signature(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())
