"""The skeleton every service shares: health, readiness and metrics endpoints, problem details, and serving."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from dealpulse_common.http_metrics import instrument
from dealpulse_common.logging import configure_logging, request_id_var
from dealpulse_common.problem_docs import document_problems
from dealpulse_common.rate_limits import RateLimited, RateLimitHeaders
from dealpulse_common.request_ids import HEADER as REQUEST_ID_HEADER
from dealpulse_common.request_ids import install_request_ids, request_id_of
from dealpulse_common.settings import ServiceSettings

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]
PROBLEM_JSON = "application/problem+json"


def probe_router(checks: dict[str, ReadinessCheck]) -> APIRouter:
    """``/healthz`` (the process answers), ``/readyz`` (every dependency answers), ``/metrics``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results = {name: await _safe_check(check) for name, check in checks.items()}
        ready = all(results.values())
        return JSONResponse({"ready": ready, "checks": results}, status_code=200 if ready else 503)

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def _safe_check(check: ReadinessCheck) -> bool:
    try:
        return await asyncio.wait_for(check(), timeout=2.0)
    except Exception:  # a dependency that errors is simply not ready
        return False


def problem(status: int, title: str, detail: str, *, headers: dict[str, str] | None = None,
            **extensions: Any) -> JSONResponse:
    """An RFC 9457 problem-details response, carrying the id of the request it answers."""
    body = {"type": f"https://dealpulse.dev/problems/{title.lower().replace(' ', '-')}", "title": title,
            "status": status, "detail": detail, "request_id": request_id_var.get(), **extensions}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class ServiceUnavailable(Exception):
    """A dependency (database, broker, scorer) is away and nothing was done: raised by a route, answered by the
    handler ``install_problem_handlers`` installs as 503 problem details with ``Retry-After``."""

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after_s = retry_after_s


def unavailable(detail: str, retry_after_s: int) -> JSONResponse:
    """The one 503 answer: problem details saying what is away, and when to come back."""
    return problem(503, "Service unavailable", detail, headers={"Retry-After": str(retry_after_s)})


def install_problem_handlers(app: FastAPI) -> None:
    """Problem details for every error an app answers, with the request id and rate-limit headers; also counts and
    times its requests (every service's app factory calls this once)."""
    instrument(app)
    install_request_ids(app)
    app.add_middleware(RateLimitHeaders)
    document_problems(app)

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(_: Request, exc: ServiceUnavailable) -> JSONResponse:
        return unavailable(exc.detail, exc.retry_after_s)

    @app.exception_handler(RateLimited)
    async def _rate_limited(_: Request, exc: RateLimited) -> JSONResponse:
        return problem(429, "Too many requests", str(exc), headers=exc.headers())

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"] if p not in ("body",)), "reason": err["msg"]}
            for err in exc.errors()
        ]
        fields = ", ".join(e["field"] for e in errors)
        return problem(422, "Invalid request", f"invalid field(s): {fields}", errors=errors)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, _: Exception) -> JSONResponse:
        # Answered outside every middleware (Starlette's server-error layer): the id is added here.
        request_id = request_id_of(request)
        request_id_var.set(request_id)
        return problem(500, "Internal server error", "an unexpected error; quote the request id to report it",
                       headers={REQUEST_ID_HEADER: request_id})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, _TITLES.get(exc.status_code, "Error"), str(exc.detail),
                       headers=getattr(exc, "headers", None))


_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
           409: "Conflict", 413: "Payload too large", 415: "Unsupported media type", 429: "Too many requests",
           503: "Service unavailable"}


class BackgroundWork:
    """Long-running tasks of a service; if one dies the whole process stops so its supervisor restarts it."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._on_done)
        self._tasks.append(task)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.error("background task %s failed; stopping the service", task.get_name(), exc_info=task.exception())
        os.kill(os.getpid(), signal.SIGTERM)

    async def wait(self, grace_s: float = 10.0) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace_s)
        for task in self._tasks:
            task.cancel()


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run one service; uvicorn turns SIGTERM/SIGINT into a graceful lifespan shutdown."""
    configure_logging(settings.service_name, settings.log_level)
    # No per-message deflate: a score message is about a kilobyte, sent to every client at the feed's rate, and
    # compressing each one showed in the gateway's profile under load for a few hundred bytes saved apiece.
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                access_log=False, timeout_graceful_shutdown=10, ws_per_message_deflate=False)
