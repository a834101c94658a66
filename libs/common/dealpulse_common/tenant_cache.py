"""Per-tenant values read from PostgreSQL and kept briefly (webhook secrets, stage mappings, CRM settings,
verdict thresholds, the won-deal library).

PostgreSQL stays the truth: a short cache spares a query per delivery or batch, an edit made elsewhere takes
effect within the TTL without any signal between services, and a restart merely reads it again. Whatever the
loader returns is kept, a miss included (an unknown tenant's ``None``), so a flood of bad deliveries cannot hammer
the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import asyncpg
from cachetools import TTLCache

from dealpulse_common.db import tenant_transaction

T = TypeVar("T")
MAX_TENANTS = 10_000
_MISSING = object()

# Reads the tenant's value on a connection already in that tenant's transaction (row-level security applies).
Loader = Callable[[asyncpg.Connection, str], Awaitable[T]]


class TenantCache(Generic[T]):
    def __init__(self, ttl_s: float, load: Loader[T], *, pool: asyncpg.Pool | None = None,
                 max_tenants: int = MAX_TENANTS) -> None:
        self._load = load
        self._pool = pool
        self._cache: TTLCache[str, T] = TTLCache(maxsize=max_tenants, ttl=ttl_s)

    async def get(self, tenant_id: str) -> T:
        """The tenant's value, loaded in a transaction of its own when not cached (needs the ``pool``); raises a
        database-unavailable error when the database cannot be reached."""
        cached = self._cache.get(tenant_id, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        if self._pool is None:
            raise RuntimeError("this cache reads inside its caller's transaction: use get_in")
        async with tenant_transaction(self._pool, tenant_id) as conn:
            return await self._fill(conn, tenant_id)

    async def get_in(self, conn: asyncpg.Connection, tenant_id: str) -> T:
        """The tenant's value, loaded on ``conn`` (in the tenant's transaction) when not cached."""
        cached = self._cache.get(tenant_id, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        return await self._fill(conn, tenant_id)

    def forget(self, tenant_id: str) -> None:
        """Read the tenant's value afresh next time (other replicas catch up within the TTL)."""
        self._cache.pop(tenant_id, None)

    async def _fill(self, conn: asyncpg.Connection, tenant_id: str) -> T:
        # One lookup, then the loaded value itself is returned: an entry can expire between two lookups.
        value = await self._load(conn, tenant_id)
        self._cache[tenant_id] = value
        return value
