"""Request quotas in Redis, shared by every replica: per user and per tenant for token-taking routes, per tenant for
ingest's webhooks. The ``limits`` library's Redis storage counts them in fixed windows: per quota one atomic
INCR+EXPIRE (its Lua script) and one TTL read for the headers, the quotas of a request side by side.

A refused request is a ``RateLimited``, answered as a 429 problem with ``Retry-After``. Every limited response
carries the IETF draft's ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds until the
window resets) of the quota closest to running out. Redis being away never refuses a request: quotas are not
checked for a few seconds, and that is logged.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.errors import StorageError
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dealpulse_common import metrics
from dealpulse_common.auth import Principal

log = logging.getLogger(__name__)
KEY_PREFIX = "dealpulse:ratelimit"
REDIS_TIMEOUT_S = 0.5
# After Redis failed, how long requests go unchecked before it is tried again (no timeout on every request).
COOLDOWN_S = 5.0


@dataclass(frozen=True)
class Quota:
    scope: str  # "user", "tenant", "webhooks": the metric label and the key's namespace
    limit: RateLimitItem
    identifiers: tuple[str, ...]

    @classmethod
    def of(cls, scope: str, limit: str, *identifiers: str) -> Quota:
        return cls(scope, parse(limit), identifiers)


@dataclass(frozen=True)
class QuotaState:
    scope: str
    limit: int
    remaining: int
    reset_after_s: int

    def headers(self) -> dict[str, str]:
        return {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                "RateLimit-Reset": str(self.reset_after_s)}


class RateLimited(Exception):
    """A quota is used up: answered as a 429 problem (``dealpulse_common.service``)."""

    def __init__(self, state: QuotaState) -> None:
        super().__init__(f"the {state.scope} rate limit of {state.limit} requests is used up; "
                         f"retry in {state.reset_after_s} s")
        self.state = state

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.state.reset_after_s), **self.state.headers()}


class RateLimiter:
    def __init__(self, redis_url: str, service: str) -> None:
        self._storage = RedisStorage(f"async+{redis_url}", implementation="redispy", wrap_exceptions=True,
                                     key_prefix=f"{KEY_PREFIX}:{service}", socket_timeout=REDIS_TIMEOUT_S,
                                     socket_connect_timeout=REDIS_TIMEOUT_S)
        self._unchecked_until = 0.0

    async def check(self, quotas: Sequence[Quota]) -> QuotaState | None:
        """Count one request against every quota; the state of the tightest, or None while Redis is away.
        Raises ``RateLimited`` when one is used up."""
        if time.monotonic() < self._unchecked_until:
            return None
        try:
            states = await asyncio.gather(*(self._hit(quota) for quota in quotas))
        except StorageError as exc:
            self._unchecked_until = time.monotonic() + COOLDOWN_S
            log.warning("rate limits unchecked for %.0f s: Redis unavailable (%r)", COOLDOWN_S, exc)
            return None
        tightest = min(states, key=lambda s: (s.remaining, -s.reset_after_s))
        if tightest.remaining < 0:
            metrics.RATE_LIMITED.labels(tightest.scope).inc()
            raise RateLimited(QuotaState(tightest.scope, tightest.limit, 0, tightest.reset_after_s))
        return tightest

    async def _hit(self, quota: Quota) -> QuotaState:
        # What the library's FixedWindowRateLimiter.hit does, keeping the count it drops (two round trips, not
        # the three of hit plus get_window_stats).
        key = quota.limit.key_for(quota.scope, *quota.identifiers)
        count = await self._storage.incr(key, quota.limit.get_expiry())
        reset_after_s = max(1, math.ceil(await self._storage.get_expiry(key) - time.time()))
        return QuotaState(quota.scope, quota.limit.amount, quota.limit.amount - count, reset_after_s)


def limiter_of(connection: HTTPConnection) -> RateLimiter:
    """The app's limiter, made on first use from its settings (it connects to Redis lazily)."""
    app = connection.app
    limiter: RateLimiter | None = getattr(app.state, "rate_limiter", None)
    if limiter is None:
        settings = app.state.settings
        limiter = app.state.rate_limiter = RateLimiter(settings.redis_url, settings.service_name)
    return limiter


async def limit_principal(connection: HTTPConnection, principal: Principal) -> None:
    """Count a verified caller's request against their own quota and their tenant's."""
    settings = connection.app.state.settings
    await count_against(connection, [
        Quota.of("user", settings.rate_limit_per_user, principal.tenant_id, principal.user_id),
        Quota.of("tenant", settings.rate_limit_per_tenant, principal.tenant_id),
    ])


async def count_against(connection: HTTPConnection, quotas: Sequence[Quota]) -> None:
    """Count the request against ``quotas`` (raises ``RateLimited``) and keep the state for the response headers."""
    state = await limiter_of(connection).check(quotas)
    if state is not None:
        connection.state.rate_limit = state


class RateLimitHeaders:
    """Adds the ``RateLimit-*`` headers of the quota a request was counted against to its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_quota(message: Message) -> None:
            state = scope.get("state", {}).get("rate_limit")
            if message["type"] == "http.response.start" and isinstance(state, QuotaState):
                present = {k.lower() for k, _ in message.get("headers", [])}
                added = [(k.lower().encode(), v.encode()) for k, v in state.headers().items()
                         if k.lower().encode() not in present]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, send_with_quota)
