"""Per-tenant values read from PostgreSQL and kept briefly: webhook secrets, stage mappings, CRM settings.

A short cache keeps a busy CRM (or a bulk import) at one lookup per tenant and TTL, and an edit made through the
gateway takes effect within that time without any signal between the services. Whatever the loader returns is
kept, a miss included (an unknown tenant's ``None``), so a flood of bad deliveries cannot hammer the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import asyncpg
from cachetools import TTLCache

from dealpulse_common.db import tenant_transaction

T = TypeVar("T")
MAX_TENANTS = 10_000


class TenantCache(Generic[T]):
    def __init__(self, pool: asyncpg.Pool, ttl_s: float,
                 load: Callable[[asyncpg.Connection, str], Awaitable[T]]) -> None:
        self._pool = pool
        self._load = load
        self._cache: TTLCache[str, T] = TTLCache(maxsize=MAX_TENANTS, ttl=ttl_s)

    async def get(self, tenant_id: str) -> T:
        """The tenant's value, loaded inside its own transaction when not cached; raises a database-unavailable
        error when the database cannot be reached."""
        if tenant_id in self._cache:
            return self._cache[tenant_id]
        async with tenant_transaction(self._pool, tenant_id) as conn:
            value = await self._load(conn, tenant_id)
        self._cache[tenant_id] = value
        return value
