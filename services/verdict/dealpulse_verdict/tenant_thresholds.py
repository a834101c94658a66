"""Each tenant's verdict thresholds, read from ``tenant_settings`` and reused for a few seconds.

The database stays the truth: the cache only spares a query per batch, and a restart merely re-reads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from dealpulse_verdict import store
from dealpulse_verdict.thresholds import StampedThresholds, stamp_tenant_thresholds


@dataclass(frozen=True)
class _Cached:
    value: StampedThresholds
    expires_at: float


class TenantThresholds:
    def __init__(self, ttl_s: float, *, max_tenants: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._max_tenants = max_tenants
        self._clock = clock
        self._cache: dict[str, _Cached] = {}

    async def for_tenant(self, conn: asyncpg.Connection, tenant_id: str) -> StampedThresholds:
        """The tenant's thresholds; ``conn`` must be in a transaction for ``tenant_id``."""
        now = self._clock()
        cached = self._cache.get(tenant_id)
        if cached is not None and cached.expires_at > now:
            return cached.value
        row = await store.tenant_verdict_settings(conn, tenant_id)
        value = stamp_tenant_thresholds(tenant_id, row.overrides if row else None, row.version if row else None)
        if len(self._cache) >= self._max_tenants:
            self._cache = {k: v for k, v in self._cache.items() if v.expires_at > now}
            if len(self._cache) >= self._max_tenants:
                self._cache.clear()
        self._cache[tenant_id] = _Cached(value, now + self._ttl_s)
        return value
