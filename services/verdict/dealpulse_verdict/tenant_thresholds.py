"""Each tenant's verdict thresholds, read from ``tenant_settings`` and reused for a few seconds.

The database stays the truth: the cache only spares a query per batch, and a restart merely re-reads it.
"""

from __future__ import annotations

import asyncpg

from dealpulse_common.tenant_cache import TenantCache
from dealpulse_verdict import store
from dealpulse_verdict.thresholds import StampedThresholds, stamp_tenant_thresholds

TenantThresholds = TenantCache[StampedThresholds]


async def _thresholds(conn: asyncpg.Connection, tenant_id: str) -> StampedThresholds:
    row = await store.tenant_verdict_settings(conn, tenant_id)
    return stamp_tenant_thresholds(tenant_id, row.overrides if row else None, row.version if row else None)


def tenant_thresholds(ttl_s: float) -> TenantThresholds:
    """Read inside the caller's tenant transaction (``get_in``)."""
    return TenantCache(ttl_s, _thresholds)
