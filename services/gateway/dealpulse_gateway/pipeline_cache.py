"""The open pipeline's totals, cached in Redis per tenant and scope while the tenant's pipeline version stands.

Folding a large tenant's open deals is the cost of ``/v1/pipeline/metrics`` and ``/v1/reps`` (about 80 ms of
PostgreSQL for 75,000 open deals); a dashboard asks for the same figures again and again while nothing changed. A
cached read is exact: it is used only while ``analytics_store.pipeline_version`` — every score, verdict, override and
deletion of the tenant moves it — is what it was when the cells were computed. The one part that moves without a
write, which deals count as scored recently, is recomputed at least every ``MAX_AGE_S``. Redis being away costs
the cache, never the answer.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta

import asyncpg
import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from dealpulse_common import metrics
from dealpulse_gateway import analytics_store
from dealpulse_gateway.analytics import PipelineTotals, fold
from dealpulse_gateway.analytics_store import DealFilter

log = logging.getLogger(__name__)

MAX_AGE_S = 60


Totals = dict[tuple[str, str], PipelineTotals]


def _key(tenant_id: str, owners: Sequence[str] | None, stale_after: timedelta, by_owner: bool) -> str:
    scope = "tenant" if owners is None else hashlib.sha256("\n".join(sorted(owners)).encode()).hexdigest()[:32]
    return f"dealpulse:pipeline-totals:{tenant_id}:{scope}:{int(stale_after.total_seconds())}:{int(by_owner)}"


async def open_totals(conn: asyncpg.Connection, redis: Redis, tenant_id: str, deal_filter: DealFilter,
                      now: datetime, stale_after: timedelta, by_owner: bool = False) -> Totals:
    """``analytics.fold`` of the open deals ``deal_filter`` selects, per (owner, currency) — or per ("", currency)
    unless ``by_owner``; from the cache when valid. Only a filter of owners alone (the visibility scope, a team, a
    rep) is cached: other filters are a deal table's search, asked once."""
    if not deal_filter.owners_only():
        return await _compute(conn, tenant_id, deal_filter, now, stale_after, by_owner)
    version = list(await analytics_store.pipeline_version(conn, tenant_id))
    key = _key(tenant_id, deal_filter.owners, stale_after, by_owner)
    try:
        cached = await redis.get(key)
    except RedisError as exc:
        log.warning("pipeline cache unavailable (%s): computing the figures", type(exc).__name__)
        metrics.PIPELINE_CACHE.labels("unavailable").inc()
        return await _compute(conn, tenant_id, deal_filter, now, stale_after, by_owner)
    if cached is not None:
        entry = orjson.loads(cached)
        if entry["version"] == version:
            metrics.PIPELINE_CACHE.labels("hit").inc()
            return {(owner, currency): PipelineTotals(**sums) for owner, currency, sums in entry["totals"]}
    totals = await _compute(conn, tenant_id, deal_filter, now, stale_after, by_owner)
    metrics.PIPELINE_CACHE.labels("miss").inc()
    kept = [(owner, currency, asdict(sums)) for (owner, currency), sums in totals.items()]
    entry_bytes = orjson.dumps({"version": version, "totals": kept})
    try:
        await redis.set(key, entry_bytes, ex=MAX_AGE_S)
    except RedisError as exc:
        log.warning("pipeline cache not stored (%s)", type(exc).__name__)
    return totals


async def _compute(conn: asyncpg.Connection, tenant_id: str, deal_filter: DealFilter, now: datetime,
                   stale_after: timedelta, by_owner: bool) -> Totals:
    cells = await analytics_store.open_cells(conn, tenant_id, deal_filter, now - stale_after, by_owner=by_owner,
                                             forecasts=True)
    return fold(cells, by_owner=by_owner)
