"""Disabled users: their tokens are refused from the moment they are disabled, by every service that takes tokens.

A token stays valid until it expires, so disabling a user cannot wait for that: ``dealpulse user disable`` marks
the user in ``users`` (the record) and writes a revocation key in Redis (what is enforced), which every verified
caller is checked against — each REST request (``http_auth.current_principal``) and, about once a second, every
open WebSocket. A Redis that cannot answer refuses the request (503) rather than let a disabled user in.

Keys carry no expiry: a disabled user stays disabled. Production Redis must therefore persist its data (AOF), as it
must for the rate limits' and alerts' state; after a Redis loss, ``dealpulse user disable`` of the same users
writes their keys again.
"""

from __future__ import annotations

from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import HTTPConnection

from dealpulse_common.auth import InvalidToken, Principal
from dealpulse_common.service import ServiceUnavailable

KEY_PREFIX = "dealpulse:revoked"
REDIS_TIMEOUT_S = 0.5
RETRY_AFTER_S = 2


def revocation_key(tenant_id: str, user_id: str) -> str:
    return f"{KEY_PREFIX}:{tenant_id}:{user_id}"


async def revoke(redis: Redis, tenant_id: str, user_id: str, at: datetime) -> None:
    """From now on every token of the user is refused."""
    await redis.set(revocation_key(tenant_id, user_id), at.isoformat())


async def is_revoked(redis: Redis, principal: Principal) -> bool:
    return bool(await redis.exists(revocation_key(principal.tenant_id, principal.user_id)))


def revocations_of(connection: HTTPConnection) -> Redis:
    """The app's Redis client for revocation checks, made on first use from its settings."""
    app = connection.app
    redis: Redis | None = getattr(app.state, "revocations", None)
    if redis is None:
        redis = app.state.revocations = Redis.from_url(app.state.settings.redis_url, socket_timeout=REDIS_TIMEOUT_S,
                                                       socket_connect_timeout=REDIS_TIMEOUT_S)
    return redis


async def refuse_revoked(connection: HTTPConnection, principal: Principal) -> None:
    """``InvalidToken`` if the principal's user was disabled; ``ServiceUnavailable`` if Redis cannot say."""
    try:
        revoked = await is_revoked(revocations_of(connection), principal)
    except RedisError as exc:
        raise ServiceUnavailable("cannot check whether the user is disabled; retry later", RETRY_AFTER_S) from exc
    if revoked:
        raise InvalidToken("this user is disabled")
