"""``X-Request-ID`` at every HTTP edge: taken from the caller when well-formed, else made here, and echoed.

The id is set in ``request_id_var`` for the whole request, so every log line of it carries the id (see
``dealpulse_common.logging``) and so does every problem body (``dealpulse_common.service.problem``). A pure ASGI
middleware rather than Starlette's ``BaseHTTPMiddleware``, which would run the route in another task.
"""

from __future__ import annotations

import re
import uuid

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dealpulse_common.logging import request_id_var

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode()
# A caller's id is kept only if it is short and plain: it lands in logs and response headers unescaped.
_WELL_FORMED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}$")


def request_id_from(value: str | None) -> str:
    """The caller's id if it is well-formed, else a new one."""
    if value is not None and _WELL_FORMED.match(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        sent = next((v for k, v in scope["headers"] if k == _HEADER_KEY), None)
        request_id = request_id_from(sent.decode("latin-1") if sent is not None else None)
        scope.setdefault("state", {})["request_id"] = request_id
        # Not reset afterwards: the server runs each request in a task of its own, and its own log line of an
        # unhandled error (written after this returns) should still carry the id.
        request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                headers = [(k, v) for k, v in message.get("headers", []) if k != _HEADER_KEY]
                message = {**message, "headers": [*headers, (_HEADER_KEY, request_id.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_id)



def install_request_ids(app: FastAPI) -> None:
    """An id on every request and response of ``app``."""
    app.add_middleware(RequestIdMiddleware)


def request_id_of(request: Request) -> str:
    """The id the middleware gave ``request`` (a new one if it never ran, as for an error raised before it)."""
    found = getattr(request.state, "request_id", None)
    return found if isinstance(found, str) else request_id_from(None)
