"""The digest and summary scheduler: each user's daily digest at their local digest time, and every admin's weekly
executive summary on Monday 09:00 local, each claimed once per user and period.

Every replica runs one. A claim is a row of ``alert_schedule_runs`` inserted in the same tenant transaction as the
deliveries it plans, so across replicas exactly one run per period gets through, and the latest period is due until
it ran (a run missed while the service was down happens once when it is back, not once per missed day). A digest
with no high-risk deal, or a summary of a tenant without open deals, is claimed and not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from dealpulse_alerts import delivery_store, schedule_store
from dealpulse_alerts.delivery_plan import DeliveryKind, PlannedDelivery, delivery_id_for
from dealpulse_alerts.delivery_store import UserRow
from dealpulse_alerts.digests import (
    CurrencyTotal,
    Digest,
    Mover,
    PipelineTotal,
    Summary,
    digest_deal,
    digest_messages,
    summary_messages,
)
from dealpulse_alerts.planning import user_zone
from dealpulse_alerts.schedule_rules import DuePeriod, due_digest, due_summary
from dealpulse_common.alert_settings import Channel, ChannelSettings
from dealpulse_common.db import DATABASE_UNAVAILABLE, tenant_transaction
from dealpulse_common.events import utcnow

log = logging.getLogger(__name__)
MOVERS = 5
WIN_RATE_WINDOW = timedelta(weeks=4)


@dataclass(frozen=True)
class SchedulerConfig:
    dashboard_url: str
    interval_s: float = 30.0


class Scheduler:
    def __init__(self, pool: asyncpg.Pool, config: SchedulerConfig, clock: Callable[[], datetime] = utcnow) -> None:
        self._pool = pool
        self._config = config
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except DATABASE_UNAVAILABLE as exc:
                log.warning("schedules paused: database unavailable (%s)", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._config.interval_s)

    async def run_once(self) -> int:
        """Claim and plan every due period of every tenant's users; returns the deliveries planned."""
        async with self._pool.acquire() as conn:
            tenants = await delivery_store.all_tenants(conn)
        return sum([await self._tenant(tenant_id) for tenant_id in tenants])

    async def _tenant(self, tenant_id: str) -> int:
        now = self._clock()
        planned = 0
        async with tenant_transaction(self._pool, tenant_id) as conn:
            channels = await delivery_store.channel_settings(conn, tenant_id)
            if not _personal_channels(channels):
                return 0  # nothing could be sent, so no period is claimed: set-up later still gets today's
            for user in await delivery_store.users(conn, tenant_id):
                zone = user_zone(user.preferences.timezone, user.timezone)
                if user.preferences.digest_enabled:
                    planned += await self._digest(conn, tenant_id, user, channels,
                                                  due_digest(now, user.preferences.digest_time, zone))
                if user.role == "admin":
                    planned += await self._summary(conn, tenant_id, user, channels, due_summary(now, zone), now)
        return planned

    async def _digest(self, conn: asyncpg.Connection, tenant_id: str, user: UserRow, channels: ChannelSettings,
                      period: DuePeriod) -> int:
        if not await schedule_store.claim_run(conn, tenant_id, user.user_id, "digest", period.key):
            return 0
        scope = None if user.role == "admin" else user.user_id
        rows = await schedule_store.top_high_risk(conn, tenant_id, scope, user.preferences.digest_size)
        if not rows:
            return 0
        totals = [CurrencyTotal(r["currency"], r["deals"], float(r["amount"]))
                  for r in await schedule_store.high_risk_totals(conn, tenant_id, scope)]
        digest = Digest(period.key, [digest_deal(r, self._config.dashboard_url) for r in rows], totals)
        return await self._deliver(conn, tenant_id, user, channels, "digest", period, digest_messages(digest))

    async def _summary(self, conn: asyncpg.Connection, tenant_id: str, user: UserRow, channels: ChannelSettings,
                       period: DuePeriod, now: datetime) -> int:
        if not await schedule_store.claim_run(conn, tenant_id, user.user_id, "summary", period.key):
            return 0
        pipeline = [PipelineTotal(r["currency"], float(r["pipeline"]), float(r["risk_adjusted"]), float(r["at_risk"]))
                    for r in await schedule_store.pipeline_by_currency(conn, tenant_id)]
        if not pipeline:
            return 0  # no open deal: nothing to summarise
        summary = Summary(
            period.key, pipeline,
            await schedule_store.win_rate(conn, tenant_id, now - WIN_RATE_WINDOW, now),
            await schedule_store.win_rate(conn, tenant_id, now - 2 * WIN_RATE_WINDOW, now - WIN_RATE_WINDOW),
            [Mover(r["deal_id"], r["name"], r["risk_score"], r["was"])
             for r in await schedule_store.biggest_movers(conn, tenant_id, now - timedelta(days=7), MOVERS)])
        return await self._deliver(conn, tenant_id, user, channels, "summary", period, summary_messages(summary))

    async def _deliver(self, conn: asyncpg.Connection, tenant_id: str, user: UserRow, channels: ChannelSettings,
                       kind: DeliveryKind, period: DuePeriod, messages: dict[str, dict[str, Any]]) -> int:
        planned: list[PlannedDelivery] = []
        if user.email:
            subject = f"{kind}:{user.user_id}:{period.key}"
            if channels.slack is not None and channels.slack.bot_token and Channel.SLACK in user.preferences.channels:
                planned.append(PlannedDelivery(delivery_id_for(tenant_id, subject, "slack_dm", user.user_id), kind,
                                               "slack_dm", user.user_id, user.email, messages["slack"],
                                               period.due_at))
            if channels.email is not None and Channel.EMAIL in user.preferences.channels:
                planned.append(PlannedDelivery(delivery_id_for(tenant_id, subject, "email", user.user_id), kind,
                                               "email", user.user_id, user.email, messages["email"], period.due_at))
        await delivery_store.insert_deliveries(conn, tenant_id, planned)
        await schedule_store.record_run(conn, tenant_id, user.user_id, kind, period.key, len(planned))
        return len(planned)


def _personal_channels(channels: ChannelSettings) -> bool:
    return channels.email is not None or (channels.slack is not None and channels.slack.bot_token is not None)
