"""One table from error codes to HTTP statuses, and the handlers that render every error the same way."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from assist.errors import InvalidInput, KnowledgeBaseUnavailable, TactfulError
from kb_index.errors import KnowledgeError

log = logging.getLogger("tactful.api")

STATUS = {
    "invalid_input": 422,
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "too_many_requests": 429,
    "method_not_allowed": 405,
    "knowledge_base_unavailable": 503,
    "llm_unavailable": 503,
    "database_unavailable": 503,
    "helpdesk_unavailable": 502,
    "internal": 500,
}


# The HTTP status code each status maps back to, for errors Starlette raises itself (unknown path, method).
CODE_OF_STATUS = {status: code for code, status in reversed(STATUS.items())}


class ApiError(TactfulError):
    """An error raised by the HTTP layer itself (auth, body size, webhook signatures); ``code`` is in STATUS."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        if code not in STATUS:
            raise ValueError(f"unknown error code {code!r}: add it to api.errors.STATUS")
        super().__init__(message, field=field)
        self.code = code


def domain_error(exc: KnowledgeError) -> TactfulError:
    """A knowledge-base layer error as the domain error it means (``kb_index`` cannot import ``assist``)."""
    kinds: dict[str, type[TactfulError]] = {
        "invalid_input": InvalidInput,
        "knowledge_base_unavailable": KnowledgeBaseUnavailable,
    }
    return kinds.get(exc.code, KnowledgeBaseUnavailable)(exc.message, field=exc.field)


def invalid_input(exc: ValidationError | RequestValidationError, *, prefix: str = "") -> TactfulError:
    """The first problem pydantic found, as one error naming the field (``prefix`` is where the data came from)."""
    errors = exc.errors()
    first: Mapping[str, Any] = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        return ApiError("bad_request", f"the body is not valid JSON: {first.get('msg')}", field="body")
    field = ".".join(p for p in (prefix, _loc(tuple(first.get("loc", ())))) if p and p != "body") or "body"
    return InvalidInput(f"{field}: {first.get('msg')}", field=field)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(exc: TactfulError) -> JSONResponse:
    """The one rendering of every error: ``{"error": {code, message, field}}`` with the code's status."""
    return JSONResponse(error_body(exc.code, exc.message, exc.field), status_code=STATUS[exc.code])


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(invalid_input(exc))


async def _domain(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, KnowledgeError):
        exc = domain_error(exc)
    assert isinstance(exc, TactfulError)
    return error_response(exc)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = CODE_OF_STATUS.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal")
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)


async def _database(_: Request, exc: Exception) -> JSONResponse:
    """The database refused or dropped the connection (restarting, failing over, out of connections): the request's
    transaction was rolled back, so the client may send it again."""
    log.warning("database unavailable: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    message = "the database cannot be reached right now; try again in a moment"
    return JSONResponse(error_body("database_unavailable", message), status_code=503, headers={"Retry-After": "1"})


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse(error_body("internal", "an unexpected error occurred on our side"), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(TactfulError, _domain)
    app.add_exception_handler(KnowledgeError, _domain)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(OperationalError, _database)
    app.add_exception_handler(InterfaceError, _database)
    app.add_exception_handler(Exception, _unexpected)
