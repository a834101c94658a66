"""The scorer's stream edge: changed deals in, scored deals out, one tenant transaction per tenant of a batch.

The scoring itself is ``scoring.ScoringCore``'s, the same path the re-scorer after a promotion and ``POST /score``
take; this edge groups a batch by tenant, sets tombstones apart and keeps one poison change from stopping the rest.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import asyncpg

from dealpulse_common.db import tenant_transaction
from dealpulse_common.events import CloudEvent, DealChanged, utcnow
from dealpulse_common.kafka import Outgoing
from dealpulse_common.resilience import POISON, TRANSIENT, count_dead_letters, each_isolated, retry_transient
from dealpulse_common.topics import DEAL_CHANGED, DEAL_SCORED
from dealpulse_scorer.model import LoadedModel
from dealpulse_scorer.scoring import SERVICE, ScoredChanges, ScoringCore, scored_event, stream_timing

log = logging.getLogger(__name__)


class ScoringConsumer:
    def __init__(self, pool: asyncpg.Pool, core: ScoringCore, retry_budget_s: float) -> None:
        self._pool = pool
        self._core = core
        self._retry_budget_s = retry_budget_s

    async def handle(self, events: list[CloudEvent]) -> list[Outgoing]:
        # A database outage retries the whole batch (a tenant done before it gets its stored scores back) instead of
        # stopping the stream loop, and with it the service.
        return await retry_transient(lambda: self._handle_batch(events), self._retry_budget_s)

    async def _handle_batch(self, events: list[CloudEvent]) -> list[Outgoing]:
        consumed_at = utcnow()
        models = self._core.models  # one snapshot for the whole batch: a batch is never split across two models
        by_tenant: dict[str, list[DealChanged]] = defaultdict(list)
        for event in events:
            assert isinstance(event, DealChanged)
            by_tenant[event.tenantid].append(event)
        outgoing: list[Outgoing] = []
        dead_letters: list[Outgoing] = []
        for tenant_id, changes in by_tenant.items():
            # A tombstone is not scored and publishes nothing: downstream (verdict, alerts, the gateway's stream)
            # never hears of the deal again, so none of them needs a deletion rule of its own.
            deletions = [c for c in changes if c.data.deleted]
            live_changes = [c for c in changes if not c.data.deleted]
            async with tenant_transaction(self._pool, tenant_id) as conn:
                scored, poisoned = await self._score_live(conn, models.for_tenant(tenant_id), tenant_id, live_changes)
                outgoing.extend(poisoned)
                dead_letters.extend(poisoned)
                if deletions:
                    await self._core.forget(conn, tenant_id, deletions)
            outgoing.extend(Outgoing(DEAL_SCORED, scored_event(change, data, stream_timing(change, data, consumed_at)))
                            for change, data in scored)
        count_dead_letters(SERVICE, dead_letters)  # every tenant's transaction has committed
        return outgoing

    async def _score_live(self, conn: asyncpg.Connection, model: LoadedModel, tenant_id: str,
                          changes: list[DealChanged]) -> tuple[ScoredChanges, list[Outgoing]]:
        """Score the tenant's changes together; if one's data makes that fail, score them one by one, each in a
        savepoint, so only that change is dead-lettered and its neighbours (and the partition) go on."""
        try:
            async with conn.transaction():
                return await self._core.score_in(conn, model, tenant_id, changes, live=True), []
        except TRANSIENT:
            raise
        except POISON:
            log.warning("a change in a batch of %d cannot be scored; scoring them one by one", len(changes))
        scored, poisoned = await each_isolated(
            conn, changes, lambda change: self._core.score_in(conn, model, tenant_id, [change], live=True),
            service=SERVICE, topic_of=lambda _: DEAL_CHANGED)
        return [pair for pairs in scored for pair in pairs], poisoned
