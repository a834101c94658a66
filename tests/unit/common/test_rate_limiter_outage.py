"""Quotas never refuse a request because Redis is away: the limiter answers "unchecked" and stops trying for a
while instead of waiting on Redis for every request."""

from __future__ import annotations

import time

from dealpulse_common.rate_limits import COOLDOWN_S, Quota, RateLimiter

NOBODY_LISTENS = "redis://127.0.0.1:1/0"


async def test_an_unreachable_redis_leaves_requests_unchecked_for_a_cooldown() -> None:
    limiter = RateLimiter(NOBODY_LISTENS, "unit")
    quotas = [Quota.of("user", "1/minute", "acme", "u1")]
    assert await limiter.check(quotas) is None
    started = time.monotonic()
    for _ in range(50):  # far past the quota, and no connection attempt while cooling down
        assert await limiter.check(quotas) is None
    assert time.monotonic() - started < COOLDOWN_S
