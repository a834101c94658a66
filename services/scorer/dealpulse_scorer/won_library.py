"""Each tenant's won deals, read from its own scores and kept briefly, for the similar-deals panel."""

from __future__ import annotations

import asyncpg

from dealpulse_common.deal import CanonicalDeal
from dealpulse_common.tenant_cache import TenantCache
from dealpulse_scorer import store

LIBRARY_SIZE = 2_000
LIBRARY_TTL_S = 60.0
LIBRARY_TENANTS = 2_000

WonDealLibrary = TenantCache[list[CanonicalDeal]]


async def _won_deals(conn: asyncpg.Connection, tenant_id: str) -> list[CanonicalDeal]:
    return [CanonicalDeal.model_validate(s) for s in await store.won_deals(conn, tenant_id, LIBRARY_SIZE)]


def won_deal_library(pool: asyncpg.Pool) -> WonDealLibrary:
    """Read inside the caller's tenant transaction (``get_in``) or in one of its own (``get``); derived from
    ``deal_risk``, so losing it on a restart costs one query per tenant. ``forget`` a tenant whose deal was just won
    or deleted."""
    return TenantCache(LIBRARY_TTL_S, _won_deals, pool=pool, max_tenants=LIBRARY_TENANTS)
