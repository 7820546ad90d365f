"""The FastAPI application factory: ``create_app(settings)``."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from api import errors
from api.container import Container, build_rate_limiter
from api.demo import ensure_demo_indexed
from api.routes import (
    agent,
    health,
    helpdesks,
    journey,
    knowledge,
    pages,
    reports,
    stream,
    supervisor,
    tone_gate,
    webhooks,
)
from api.schemas import ERROR_RESPONSES
from api.settings import Settings

log = logging.getLogger("tactful")
STATIC = Path(__file__).parent / "static"
BODY_LIMITS = (("/v1/documents", 64 * 1024 * 1024), ("", 16 * 1024 * 1024))


def _limit_for(path: str) -> int:
    return next(limit for prefix, limit in BODY_LIMITS if path.startswith(prefix))


def app_from_environment() -> FastAPI:
    """The service built from the environment (``TACTFUL_*`` and ``.env``): each process of ``tactful serve
    --workers N`` builds its own."""
    return create_app(Settings())


def create_app(settings: Settings, *, container: Container | None = None) -> FastAPI:
    """The service, built from ``settings`` (or around an already built ``container``, for tests)."""
    settings.check_can_serve()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Built here, on the loop that serves: a Redis-backed limiter's connections belong to one event loop.
        app.state.limiter = build_rate_limiter(settings)
        built = container or Container.build(settings)
        app.state.container = built
        built.start()
        if settings.demo:
            ensure_demo_indexed(built)
        try:
            yield
        finally:
            built.stop()
            await app.state.limiter.aclose()

    app = FastAPI(title="Tactful", version="0.5.0", lifespan=lifespan)
    errors.install(app)

    @app.middleware("http")
    async def limits_and_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        container = getattr(request.app.state, "container", None)  # None before start-up completes
        length = request.headers.get("content-length")
        limit = _limit_for(request.url.path)
        if length and length.isdigit() and int(length) > limit:
            return errors.error_response(
                errors.ApiError("too_large", f"the body is larger than {limit // 2**20} MB", field="body")
            )
        key = request.headers.get("authorization", "")
        limiter = getattr(request.app.state, "limiter", None)  # None before start-up completes
        wait = await limiter.wait(key) if limiter and key and request.url.path.startswith("/v1/") else 0.0
        if wait > 0:
            if container is not None:
                container.metrics.rate_limited.inc()
            per_minute = settings.rate_limit_per_minute
            refused = errors.error_response(
                errors.ApiError(
                    "too_many_requests",
                    f"more than {per_minute} requests a minute with this key",
                    field="authorization",
                )
            )
            refused.headers["Retry-After"] = str(math.ceil(wait))
            return refused
        response = await call_next(request)
        if container is not None:
            route = request.scope.get("route")
            path = route.path if isinstance(route, APIRoute) else ("static" if request.url.path.startswith("/static")
                                                                   else "other")  # fmt: skip
            container.metrics.requests.labels(path, request.method, str(response.status_code)).observe(
                time.perf_counter() - started
            )
        installed = " ".join(container.installations.frame_origins()) if container is not None else ""
        frames = f"frame-ancestors {settings.frame_ancestors} {installed}".strip()
        page = response.headers.get("Content-Security-Policy")  # a page's own directives (the sidebar's scripts)
        response.headers["Content-Security-Policy"] = f"{page}; {frames}" if page else frames
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    for router in (
        health.router,
        knowledge.router,
        agent.router,
        stream.router,
        supervisor.router,
        journey.router,
        reports.router,
        helpdesks.router,
        tone_gate.router,
        webhooks.router,
        pages.router,
    ):
        # Every error has the one shape of api/errors.py; /openapi.json says so for each route.
        app.include_router(router, responses=ERROR_RESPONSES if router is not pages.router else None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
