"""Role keys: ``Authorization: Bearer <key>``; admin may do everything."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Request

from api.errors import ApiError
from api.settings import Settings


def role_of(settings: Settings, header: str | None) -> str | None:
    """The role of the bearer key in ``header``, or None when absent or unknown."""
    if not header or not header.lower().startswith("bearer "):
        return None
    given = header[7:].strip().encode()
    for key, role in settings.keys().items():
        if hmac.compare_digest(key.encode(), given):
            return role
    return None


def require(*roles: str) -> Callable[[Request], str]:
    """A dependency admitting the given roles (and admin); 401 without a known key, 403 with the wrong one."""

    def check(request: Request) -> str:
        settings: Settings = request.app.state.container.settings
        header = request.headers.get("authorization")
        role = role_of(settings, header)
        if role is None:
            if settings.dev_open and not header:
                return "admin"
            raise ApiError(
                "unauthorized", "a valid key is required: Authorization: Bearer <key>", field="authorization"
            )
        if role != "admin" and role not in roles:
            raise ApiError(
                "forbidden", f"the {role} role may not do this (needs {' or '.join(roles)})", field="authorization"
            )
        return role

    return check
