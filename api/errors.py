"""One table from error codes to HTTP statuses, and the handlers that render every error the same way."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from assist.errors import TactfulError
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
    "knowledge_base_unavailable": 503,
    "llm_unavailable": 503,
}


class ApiError(TactfulError):
    """An error raised by the HTTP layer itself (auth, body size)."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.code = code


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def _response(code: str, message: str, field: str | None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=STATUS.get(code, 400))


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "invalid request"}
    field = _loc(tuple(first.get("loc", ())))
    if first.get("type") == "json_invalid":
        return _response("bad_request", f"the body is not valid JSON: {first.get('msg')}", "body")
    return _response("invalid_input", f"{field}: {first.get('msg')}", field)


async def _domain(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TactfulError | KnowledgeError)
    return _response(exc.code, exc.message, exc.field)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "bad_request", 401: "unauthorized", 403: "forbidden"}.get(
        exc.status_code, "bad_request"
    )
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse(error_body("internal", "an unexpected error occurred on our side"), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(TactfulError, _domain)
    app.add_exception_handler(KnowledgeError, _domain)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
