"""At most one alert per deal and type per window, across replicas, restarts and replays.

Two layers. Redis (``SET NX PX``) is the fast, cross-replica claim: the key holds the id of the alert that owns the
window. The ``alerts`` table is the truth that survives a restart, a flushed Redis or a replay: before raising, the
deal's last alert of that type inside the window is looked up, and an alert raised before from the same source
event (same deterministic id) is recognised as such rather than raised again.

Windows run on event time (when the deal was scored or the verdict decided), so a replay decides as the first
run did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

import asyncpg
from redis.asyncio import Redis

from dealpulse_alerts import store
from dealpulse_alerts.handlers import Candidate
from dealpulse_alerts.redis_guard import REDIS_UNAVAILABLE, RedisGuard
from dealpulse_common.events import DealAlertData, utcnow

# Delete the claim only if it is still ours: a poison event must not leave a window held by an alert that was
# never stored, nor release someone else's.
_RELEASE_IF_OURS = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class Decision(Enum):
    RAISE = "raise"
    THROTTLED = "throttled"
    ALREADY_RAISED = "already_raised"


@dataclass(frozen=True)
class Admission:
    decision: Decision
    stored: DealAlertData | None = None
    published: bool = False


class _Claim(Enum):
    OURS = "ours"
    TAKEN = "taken"
    UNKNOWN = "unknown"  # Redis could not say; the database decides alone


class AlertThrottle:
    def __init__(self, redis: Redis, guard: RedisGuard) -> None:
        self._redis = redis
        self._guard = guard

    async def admit(self, conn: asyncpg.Connection, candidate: Candidate, window: timedelta) -> Admission:
        """``conn`` is in the candidate's tenant transaction, so alerts raised earlier in it count too; ``window``
        is the tenant's throttle window (its alert rules)."""
        if await self._claim(candidate, window) is _Claim.TAKEN:
            return Admission(Decision.THROTTLED)
        previous = await store.previous_alert(conn, candidate.tenant_id, candidate.deal_id, candidate.alert_type,
                                              candidate.alert_id, since=candidate.occurred_at - window)
        if previous is None:
            return Admission(Decision.RAISE)
        if previous.alert_id == candidate.alert_id:
            return Admission(Decision.ALREADY_RAISED, previous.data, previous.published)
        await self._hold(candidate, previous.alert_id, previous.raised_at + window)
        return Admission(Decision.THROTTLED)

    async def release(self, candidate: Candidate) -> None:
        if not self._guard.available():
            return
        try:
            await self._redis.eval(_RELEASE_IF_OURS, 1, _key(candidate), candidate.alert_id)
        except REDIS_UNAVAILABLE as exc:
            self._guard.failed("releasing a throttle", exc)

    async def _claim(self, candidate: Candidate, window: timedelta) -> _Claim:
        ttl_ms = _ms_until(candidate.occurred_at + window)
        if ttl_ms <= 0 or not self._guard.available():
            return _Claim.UNKNOWN  # an event older than the window, or Redis away: the database judges alone
        key = _key(candidate)
        try:
            if await self._redis.set(key, candidate.alert_id, nx=True, px=ttl_ms):
                return _Claim.OURS
            holder = await self._redis.get(key)
        except REDIS_UNAVAILABLE as exc:
            self._guard.failed("claiming a throttle", exc)
            return _Claim.UNKNOWN
        if holder is None:
            return _Claim.UNKNOWN  # expired between the two calls
        # The same alert id means our own earlier attempt at this very event (a retried or replayed batch).
        holder_id = holder.decode() if isinstance(holder, bytes) else holder
        return _Claim.OURS if holder_id == candidate.alert_id else _Claim.TAKEN

    async def _hold(self, candidate: Candidate, alert_id: str, window_end: datetime) -> None:
        """Point the key at the alert that owns the window, so the next candidate stops at Redis."""
        ttl_ms = _ms_until(window_end)
        if ttl_ms <= 0 or not self._guard.available():
            return
        try:
            await self._redis.set(_key(candidate), alert_id, px=ttl_ms)
        except REDIS_UNAVAILABLE as exc:
            self._guard.failed("recording a throttle window", exc)


def _ms_until(end: datetime) -> int:
    return int((end - utcnow()).total_seconds() * 1000)


def _key(candidate: Candidate) -> str:
    return f"dealpulse:alerts:throttle:{candidate.tenant_id}:{candidate.deal_id}:{candidate.alert_type.value}"
