"""Request count and latency of every HTTP service, by method, route template and status.

The route is the template a request matched (``/v1/deals/{deal_id}``), never the raw path, so a series exists per
route and not per deal; a request that matched no route counts as ``unmatched`` and a method outside HTTP's own as
``other``, so no caller can grow the series. WebSocket connections are not requests: they are counted by the gateway's
stream metrics.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dealpulse_common import metrics

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def instrument(app: FastAPI) -> None:
    """Count and time every HTTP request the app answers (``dealpulse_http_requests_total``,
    ``dealpulse_http_request_duration_seconds``)."""
    app.add_middleware(HttpMetrics)


class HttpMetrics:
    """A plain ASGI middleware (it never buffers a body): the status is read from the response's start, the route
    from the scope after the router matched it. An exception nobody answered is counted as the 500 it becomes."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_and_note_status)
        finally:
            labels = (_method(scope), route_template(scope), str(status))
            metrics.HTTP_REQUESTS.labels(*labels).inc()
            metrics.HTTP_DURATION.labels(*labels).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The path template of the route the router matched (set in the scope as it routes), else ``unmatched``."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def _method(scope: Scope) -> str:
    method = str(scope.get("method", ""))
    return method if method in _METHODS else "other"
