"""Disabled users: their tokens are refused from the moment they are disabled, by every service that takes tokens.

A token stays valid until it expires, so disabling a user cannot wait for that: ``dealpulse user disable`` marks
the user in ``users`` (the record) and writes a revocation key in Redis (what is enforced), which every verified
caller is checked against — each REST request (``http_auth.current_principal``) and, about once a second, every
open WebSocket. A Redis that cannot answer refuses the request (503) rather than let a disabled user in.

``dealpulse user enable`` lifts it for tokens issued from then on only: it replaces the revocation with the
moment of enabling (whole seconds, a token's ``iat`` precision), so a token handed out before or while the user was
disabled stays refused, and a token without ``iat`` counts as issued before.

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
ENABLED_PREFIX = "dealpulse:tokens-before"
REDIS_TIMEOUT_S = 0.5
RETRY_AFTER_S = 2


def revocation_key(tenant_id: str, user_id: str) -> str:
    return f"{KEY_PREFIX}:{tenant_id}:{user_id}"


def enabled_key(tenant_id: str, user_id: str) -> str:
    return f"{ENABLED_PREFIX}:{tenant_id}:{user_id}"


async def revoke(redis: Redis, tenant_id: str, user_id: str, at: datetime) -> None:
    """From now on every token of the user is refused."""
    await redis.set(revocation_key(tenant_id, user_id), at.isoformat())


async def reinstate(redis: Redis, tenant_id: str, user_id: str, at: datetime) -> None:
    """Tokens of the user issued from ``at`` on (to the second) are accepted again; older ones stay refused."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(enabled_key(tenant_id, user_id), str(int(at.timestamp())))
        pipe.delete(revocation_key(tenant_id, user_id))
        await pipe.execute()


async def refusal(redis: Redis, principal: Principal) -> str | None:
    """Why the principal's token is refused, or None: the user is disabled, or was enabled after it was issued."""
    disabled, enabled_at = await redis.mget(revocation_key(principal.tenant_id, principal.user_id),
                                            enabled_key(principal.tenant_id, principal.user_id))
    if disabled is not None:
        return "this user is disabled"
    if enabled_at is not None and principal.issued_at < float(enabled_at):
        return "this token was issued before the user was enabled again; sign in again"
    return None


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
        refused = await refusal(revocations_of(connection), principal)
    except RedisError as exc:
        raise ServiceUnavailable("cannot check whether the user is disabled; retry later", RETRY_AFTER_S) from exc
    if refused is not None:
        raise InvalidToken(refused)
