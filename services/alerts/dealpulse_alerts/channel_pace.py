"""How fast one Slack channel is written to, shared by every alerts replica through Redis.

A channel's key holds the moment (Redis's own clock, so replicas' clocks do not matter) before which nobody may
send to it. Taking a slot and moving that moment on is one script, so two replicas never take the same slot; a
Retry-After from Slack moves it further. Redis away: the pace is skipped for the guard's cool-down and Slack's own
429s, retried after their Retry-After, are what slows the sends down meanwhile.
"""

from __future__ import annotations

from redis.asyncio import Redis

from dealpulse_alerts.redis_guard import REDIS_UNAVAILABLE, RedisGuard

KEY_PREFIX = "dealpulse:alerts:pace"

# KEYS: the channel's key. ARGV: the pace in ms. Returns 0 (the slot is the caller's) or the ms until it is free.
_TAKE_SLOT = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local free_at = tonumber(redis.call('GET', KEYS[1]) or '0')
if free_at > now_ms then return free_at - now_ms end
local pace = tonumber(ARGV[1])
if pace > 0 then redis.call('SET', KEYS[1], now_ms + pace, 'PX', pace) end
return 0
"""
# KEYS: the channel's key. ARGV: ms to keep it closed from now (only ever lengthens what is there).
_HOLD = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local hold = tonumber(ARGV[1])
if now_ms + hold > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], now_ms + hold, 'PX', hold)
end
return 0
"""


class ChannelPace:
    """At most one message per ``interval_s`` per channel key across replicas, none before a Retry-After passed."""

    def __init__(self, redis: Redis, guard: RedisGuard, interval_s: float) -> None:
        self._take = redis.register_script(_TAKE_SLOT)
        self._hold = redis.register_script(_HOLD)
        self._guard = guard
        self._interval_ms = round(interval_s * 1000)

    async def take(self, key: str | None) -> float:
        """0 when the caller may send on ``key`` now (the slot is taken for it), else the seconds until it may
        ask again. A channel without a pace (None) is always free."""
        if key is None or not self._guard.available():
            return 0.0
        try:
            wait_ms = await self._take(keys=[_key(key)], args=[self._interval_ms])
        except REDIS_UNAVAILABLE as exc:
            self._guard.failed("channel pace", exc)
            return 0.0
        return int(wait_ms) / 1000

    async def hold(self, key: str | None, retry_after_s: float) -> None:
        """Slack asked to wait ``retry_after_s`` before the next message on ``key``."""
        if key is None or not self._guard.available():
            return
        try:
            await self._hold(keys=[_key(key)], args=[max(1, round(retry_after_s * 1000))])
        except REDIS_UNAVAILABLE as exc:
            self._guard.failed("channel pace", exc)


def _key(key: str) -> str:
    return f"{KEY_PREFIX}:{key}"
