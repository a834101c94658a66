"""Each tenant's won deals, read from its own scores and kept briefly, for the similar-deals panel."""

from __future__ import annotations

import asyncpg
from cachetools import TTLCache

from dealpulse_common.deal import CanonicalDeal
from dealpulse_scorer import store

LIBRARY_SIZE = 2_000


class WonDealLibrary:
    def __init__(self, ttl_s: float = 60.0) -> None:
        # Derived from deal_risk, so losing it on a restart costs one query per tenant.
        self._cache: TTLCache[str, list[CanonicalDeal]] = TTLCache(maxsize=2_000, ttl=ttl_s)

    async def for_tenant(self, conn: asyncpg.Connection, tenant_id: str) -> list[CanonicalDeal]:
        """Read inside the caller's tenant transaction (row-level security decides what is visible)."""
        if tenant_id not in self._cache:
            snapshots = await store.won_deals(conn, tenant_id, LIBRARY_SIZE)
            self._cache[tenant_id] = [CanonicalDeal.model_validate(s) for s in snapshots]
        return self._cache[tenant_id]

    def forget(self, tenant_id: str) -> None:
        """A deal of the tenant was just won: read the library afresh next time (other replicas catch up by TTL)."""
        self._cache.pop(tenant_id, None)
