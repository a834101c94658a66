"""WebSocket ``/v1/stream``: a tenant's live scores, verdicts and alerts, resumable after a reconnect.

Each socket reads its tenant's Redis stream with its own cursor over a dedicated Redis connection (XREAD BLOCK).
That gives every client its own backpressure and an exact resume point, at the cost of one Redis connection per
open dashboard; past a few thousand sockets per replica, one reader per tenant per replica fanning out in-process
is the next step.

Each socket sees what the caller's ``owner_scope`` admits (a rep their own deals, a manager their team's), read at
connect and again every ``stream_scope_refresh_s``. A user disabled while connected is closed within
``stream_revocation_check_ms`` (4401), as an expired token is when it expires.

Close codes: 4401 missing/invalid/expired token or disabled user, 4400 bad ``last_id``, 4429 the caller's rate
limit is used up (the reason says when to retry), 1013 Redis, the database or the identity provider's keys
unavailable (reconnect later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from dealpulse_common import metrics
from dealpulse_common.auth import InvalidToken, Principal, bearer_token
from dealpulse_common.http_auth import refuse_disabled_tenant, verified_principal
from dealpulse_common.rate_limits import RateLimited, limit_principal
from dealpulse_common.revocation import refusal, refuse_revoked, revocations_of
from dealpulse_common.service import ServiceUnavailable
from dealpulse_gateway import store
from dealpulse_gateway.auth import OwnerScope, owner_scope, visible_to
from dealpulse_gateway.messages import (
    StreamEntry,
    client_frame,
    format_stream_id,
    parse_stream_id,
    stream_key,
)
from dealpulse_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_REQUEST = 4400
CLOSE_RATE_LIMITED = 4429
CLOSE_TRY_AGAIN_LATER = 1013


@router.websocket("/v1/stream")
async def stream(websocket: WebSocket) -> None:
    settings: GatewaySettings = websocket.app.state.settings
    token = websocket.query_params.get("token") or bearer_token(websocket.headers.get("authorization"))
    try:
        if not token:
            raise InvalidToken("missing token: pass ?token= or Authorization: Bearer")
        principal = await verified_principal(websocket, token)
        last_id = _resume_point(websocket.query_params.get("last_id"))
        await refuse_revoked(websocket, principal)
        await limit_principal(websocket, principal)
        scope = await _scope(websocket, principal)
    except InvalidToken as exc:
        await _refuse(websocket, CLOSE_UNAUTHORIZED, str(exc))
        return
    except RateLimited as exc:
        await _refuse(websocket, CLOSE_RATE_LIMITED, str(exc))
        return
    except ServiceUnavailable as exc:
        await _refuse(websocket, CLOSE_TRY_AGAIN_LATER, exc.detail)
        return
    except ValueError as exc:
        await _refuse(websocket, CLOSE_BAD_REQUEST, str(exc))
        return

    key = stream_key(principal.tenant_id)
    reader = Redis.from_url(settings.redis_url, decode_responses=True, single_connection_client=True,
                            # XREAD BLOCK legitimately waits up to stream_block_ms for the next entry.
                            socket_timeout=settings.stream_block_ms / 1000 + settings.redis_timeout_s,
                            socket_connect_timeout=settings.redis_timeout_s)
    try:
        # Fix the starting point before the handshake completes: once the client sees the socket open, every
        # event added after that moment is delivered (tests and dashboards connect, then cause events).
        position = last_id or await _current_end(reader, key)
        gap = last_id is not None and await _trimmed_since(reader, key, last_id)
    except RedisError as exc:
        log.warning("redis unavailable for a new stream: %r", exc)
        await reader.aclose()
        await _refuse(websocket, CLOSE_TRY_AGAIN_LATER, "stream temporarily unavailable")
        return

    await websocket.accept()
    metrics.STREAM_CONNECTIONS.inc()
    pump = asyncio.create_task(_pump(websocket, reader, _Viewer(principal, scope), key, position, gap))
    watch = asyncio.create_task(_until_client_leaves(websocket))
    try:
        await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump, watch):
            task.cancel()
        outcomes = await asyncio.gather(pump, watch, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, Exception) and not isinstance(outcome, WebSocketDisconnect):
                log.error("stream connection failed", exc_info=outcome)
        metrics.STREAM_CONNECTIONS.dec()
        await reader.aclose()


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    # Accept, then close with a code: a browser cannot read the HTTP status of a refused handshake, only the close
    # code of an accepted socket, and it must tell "get a new token" (4401) from "network blip, reconnect".
    await websocket.accept()
    await websocket.close(code=code, reason=reason.encode()[:120].decode(errors="ignore"))  # 123-byte frame limit


def _resume_point(raw: str | None) -> str | None:
    """The id after which to resume, normalised; None means "from now on"."""
    if raw is None or raw == "":
        return None
    return format_stream_id(parse_stream_id(raw))


async def _until_client_leaves(websocket: WebSocket) -> None:
    """Drain what the client sends (nothing is expected) until it disconnects."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


@dataclass
class _Viewer:
    """Who is watching, and what of the stream they may see (refreshed while connected)."""

    principal: Principal
    scope: OwnerScope
    scope_read_at: float = field(default_factory=time.monotonic)


async def _scope(websocket: WebSocket, principal: Principal) -> OwnerScope:
    async with store.tenant_transaction_of(websocket, principal.tenant_id) as conn:
        return await owner_scope(conn, principal)


async def _still_admitted(websocket: WebSocket, viewer: _Viewer) -> bool:
    """Whether the socket may go on (closing it if not): the token unexpired, neither the user nor the tenant
    disabled; the scope re-read once it is older than ``stream_scope_refresh_s``."""
    settings: GatewaySettings = websocket.app.state.settings
    if viewer.principal.expires_at <= time.time():
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="token expired")
        return False
    if (refused := await refusal(revocations_of(websocket), viewer.principal)) is not None:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason=refused)
        return False
    if await _tenant_disabled(websocket, viewer.principal):
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="this tenant is disabled")
        return False
    if time.monotonic() - viewer.scope_read_at > settings.stream_scope_refresh_s:
        viewer.scope, viewer.scope_read_at = await _scope(websocket, viewer.principal), time.monotonic()
    return True


async def _pump(websocket: WebSocket, reader: Redis, viewer: _Viewer, key: str, position: str, gap: bool) -> None:
    settings: GatewaySettings = websocket.app.state.settings
    try:
        if gap:
            await websocket.send_text(orjson.dumps({"kind": "gap", "detail": (
                "updates after last_id were trimmed from the stream; reload the current state over REST"
            )}).decode())
        while await _still_admitted(websocket, viewer):
            remaining_ms = int((viewer.principal.expires_at - time.time()) * 1000)
            block_ms = min(settings.stream_block_ms, settings.stream_revocation_check_ms, max(remaining_ms, 1))
            response = await reader.xread({key: position}, count=settings.stream_read_count, block=block_ms)
            for entry_id, fields in _entries(response):
                position = entry_id
                entry = StreamEntry.from_fields(fields)
                if not visible_to(viewer.scope, entry.owner_id):
                    continue
                await websocket.send_text(client_frame(entry_id, entry.message))
                metrics.STREAM_MESSAGES.labels(entry.kind.value).inc()
    except (WebSocketDisconnect, OSError):
        return  # the client went away mid-send; the watcher task notices too
    except (RedisError, ServiceUnavailable) as exc:
        log.warning("redis or the database unavailable for a stream reader: %r", exc)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.close(code=CLOSE_TRY_AGAIN_LATER, reason="stream temporarily unavailable")


async def _tenant_disabled(websocket: WebSocket, principal: Principal) -> bool:
    """Asked before every read (at most ``stream_revocation_check_ms`` apart, through the tenant-status cache), so
    disabling a tenant closes its open streams; a database that cannot answer right now leaves the stream open."""
    try:
        await refuse_disabled_tenant(websocket.app, principal)
    except InvalidToken:
        return True
    except ServiceUnavailable:
        return False
    return False


async def _current_end(reader: Redis, key: str) -> str:
    """The id of the newest entry, so reading starts after it; "0-0" for a tenant whose stream is still empty."""
    newest = await reader.xrevrange(key, count=1)
    return str(newest[0][0]) if newest else "0-0"


async def _trimmed_since(reader: Redis, key: str, last_id: str) -> bool:
    """Whether entries newer than ``last_id`` were trimmed away (MAXLEN), i.e. the resume has a hole."""
    try:
        info = await reader.xinfo_stream(key)
    except ResponseError:
        return False  # no stream yet: nothing was ever trimmed
    max_deleted = info.get("max-deleted-entry-id")  # Redis/Valkey >= 7; older servers cannot tell
    if not max_deleted:
        return False
    return parse_stream_id(str(max_deleted)) > parse_stream_id(last_id)


def _entries(response: Any) -> list[tuple[str, dict[str, str]]]:
    """XREAD's entries for our single stream (RESP2 shape: ``[[key, [(id, fields), ...]]]``, or None)."""
    return [(str(entry_id), fields) for _, entries in response or [] for entry_id, fields in entries]
