"""The daily pipeline snapshot the 7/30/90-day trends compare with.

Trends need the open pipeline as it stood days ago. Re-deriving it from the score and verdict history (the latest
``risk_scores`` row of every deal as of a past day) costs a pass over the whole history per trend point — far
from a 100 ms answer with 100,000 deals. So once a day per tenant the gateway keeps the day's totals per owner
and currency in ``pipeline_daily`` (the same ``PipelineTotals`` today's figures are folded from), and a trend reads
a few hundred rows. A day is claimed once per tenant (``pipeline_snapshot_days``), so one replica takes it; a day
the gateway was down has no snapshot, and a trend then compares with one of the few days before, and says which.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from dealpulse_common.db import DATABASE_UNAVAILABLE, tenant_transaction
from dealpulse_common.events import utcnow
from dealpulse_gateway import analytics_store
from dealpulse_gateway.analytics import fold
from dealpulse_gateway.analytics_store import DealFilter
from dealpulse_gateway.settings import GatewaySettings
from dealpulse_gateway.tenant_settings import stale_after

log = logging.getLogger(__name__)


class DailySnapshots:
    def __init__(self, pool: asyncpg.Pool, settings: GatewaySettings,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._pool = pool
        self._settings = settings
        self._retention = timedelta(days=settings.snapshot_retention_days)
        self._interval_s = settings.snapshot_interval_s
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.take_due()
            except DATABASE_UNAVAILABLE as exc:
                log.warning("pipeline snapshots paused: database unavailable (%s)", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval_s)

    async def take_due(self) -> int:
        """Take today's snapshot of every tenant that has none yet; returns how many were taken. A tenant whose
        snapshot fails (its data, not the database being away) is logged and retried next time; the others go on."""
        async with self._pool.acquire() as conn:
            tenants = await analytics_store.snapshot_tenants(conn)
        taken = 0
        for tenant_id in tenants:
            try:
                taken += await self._take(tenant_id)
            except DATABASE_UNAVAILABLE:
                raise  # the database is away, not this tenant's data: the round stops here
            except (asyncpg.PostgresError, ValueError):
                log.exception("pipeline snapshot of tenant %s failed; retried at the next round", tenant_id)
        return taken

    async def _take(self, tenant_id: str) -> int:
        now = self._clock()
        day = now.date()
        async with tenant_transaction(self._pool, tenant_id) as conn:
            if not await analytics_store.claim_snapshot(conn, tenant_id, day):
                return 0
            # The tenant's own staleness window, as its live figures use: a trend compares like with like.
            window = await stale_after(conn, tenant_id, self._settings)
            cells = await analytics_store.open_cells(conn, tenant_id, DealFilter(), now - window, by_owner=True)
            await analytics_store.write_snapshot(conn, tenant_id, day, fold(cells, by_owner=True))
            await analytics_store.drop_snapshots_before(conn, tenant_id, day - self._retention)
        return 1
