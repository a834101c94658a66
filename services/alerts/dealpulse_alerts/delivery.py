"""The delivery worker: sends due deliveries, one row lock per send, retrying with backoff until its budget is spent.

Every replica runs one. Each round it asks which tenants have due deliveries, then per tenant sends them grouped by
channel (one message a second per Slack webhook or DM, Retry-After honoured), several channels at once. A delivery
is locked (``FOR UPDATE SKIP LOCKED``) for exactly the length of its send, so two workers never send the same row,
and a worker killed mid-send leaves it pending for the next one: lost never, sent twice only if the remote took the
message in full in the instant before the commit (see docs/ALERTS.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dealpulse_alerts import delivery_store as store
from dealpulse_alerts.channel_pace import ChannelPace
from dealpulse_alerts.delivery_plan import Delivery
from dealpulse_alerts.pacing import RetryPolicy, next_step
from dealpulse_alerts.senders import Senders, rate_key
from dealpulse_common import metrics
from dealpulse_common.alert_settings import ChannelSettings
from dealpulse_common.db import DATABASE_UNAVAILABLE, tenant_transaction
from dealpulse_common.events import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryConfig:
    policy: RetryPolicy
    poll_interval_s: float = 0.5
    batch: int = 50
    concurrent_channels: int = 4
    max_pace_wait_s: float = 5.0


class DeliveryWorker:
    def __init__(self, pool: asyncpg.Pool, senders: Senders, pace: ChannelPace, config: DeliveryConfig,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._pool = pool
        self._senders = senders
        self._pace = pace
        self._config = config
        self._clock = clock
        self._slots = asyncio.Semaphore(config.concurrent_channels)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; a database outage is waited out, never fatal."""
        while not stop.is_set():
            try:
                sent_any = await self.run_once()
            except DATABASE_UNAVAILABLE as exc:
                log.warning("delivery paused: database unavailable (%s)", type(exc).__name__)
                sent_any = False
            if not sent_any:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._config.poll_interval_s)

    async def run_once(self) -> bool:
        """One round over every tenant with due deliveries; True when any delivery was attempted."""
        async with self._pool.acquire() as conn:
            tenants = await store.tenants_with_due_deliveries(conn)
        attempted = [await self._deliver_tenant(tenant_id) for tenant_id in tenants]
        return any(attempted)

    async def _deliver_tenant(self, tenant_id: str) -> bool:
        async with tenant_transaction(self._pool, tenant_id) as conn:
            due = await store.due_deliveries(conn, tenant_id, self._config.batch)
            channels = await store.channel_settings(conn, tenant_id)
        by_pace: dict[str | None, list[str]] = defaultdict(list)
        unpaced: list[list[str]] = []
        for delivery_id, channel, address in due:
            key = rate_key(Delivery(delivery_id, channel, address, {}), channels)
            if key is None:
                unpaced.append([delivery_id])  # e-mail: no pace, each its own turn
            else:
                by_pace[key].append(delivery_id)
        turns = [(key, ids) for key, ids in by_pace.items()] + [(None, ids) for ids in unpaced]
        await asyncio.gather(*(self._deliver_in_turn(tenant_id, channels, key, ids) for key, ids in turns))
        return bool(due)

    async def _deliver_in_turn(self, tenant_id: str, channels: ChannelSettings, key: str | None,
                               delivery_ids: list[str]) -> None:
        """One channel's deliveries, one after the other at its pace; a long Retry-After leaves the rest for a
        later round rather than holding this one."""
        async with self._slots:
            for delivery_id in delivery_ids:
                while (wait_s := await self._pace.take(key)) > 0:
                    if wait_s > self._config.max_pace_wait_s:
                        return
                    await asyncio.sleep(wait_s)
                await self._deliver_one(tenant_id, channels, key, delivery_id)

    async def _deliver_one(self, tenant_id: str, channels: ChannelSettings, key: str | None,
                           delivery_id: str) -> None:
        async with tenant_transaction(self._pool, tenant_id) as conn:
            locked = await store.lock_due(conn, tenant_id, delivery_id)
            if locked is None:
                return  # sent, rescheduled or held by another worker meanwhile
            delivery = locked.delivery
            outcome = await self._senders.send(delivery, channels)
            if outcome.retry_after_s is not None:
                await self._pace.hold(key, outcome.retry_after_s)
            step = next_step(outcome, locked.attempts + 1, self._config.policy, self._clock())
            if step.status == "sent":
                await store.mark_sent(conn, tenant_id, delivery_id)
            elif step.status == "retry" and step.retry_at is not None:
                await store.mark_retry(conn, tenant_id, delivery_id, step.error or "", step.retry_at)
            else:
                await store.mark_failed(conn, tenant_id, delivery_id, step.error or "")
        # Counted once the outcome is committed.
        outcome_label = {"sent": "sent", "retry": "retried", "failed": "failed"}[step.status]
        metrics.ALERT_DELIVERIES.labels(delivery.channel, outcome_label).inc()
        if step.status == "failed":
            log.warning("delivery %s (%s) failed: %s", delivery_id, delivery.channel, step.error)
