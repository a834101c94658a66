"""Verdict's stream edge: scored deals in, verdicts persisted once and published, per tenant transaction."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial

import asyncpg

from dealpulse_common import metrics
from dealpulse_common.db import tenant_transaction
from dealpulse_common.events import CloudEvent, DealScored, DealVerdictData, utcnow
from dealpulse_common.kafka import Outgoing
from dealpulse_common.resilience import count_dead_letters, each_isolated, retry_transient
from dealpulse_common.topics import DEAL_SCORED, DEAL_VERDICT
from dealpulse_verdict import store
from dealpulse_verdict.handlers import decide, verdict_event
from dealpulse_verdict.tenant_thresholds import TenantThresholds
from dealpulse_verdict.thresholds import StampedThresholds


@dataclass
class _BatchResult:
    outgoing: list[Outgoing] = field(default_factory=list)
    new_verdicts: list[DealVerdictData] = field(default_factory=list)
    dead_letters: list[Outgoing] = field(default_factory=list)


class VerdictConsumer:
    def __init__(self, pool: asyncpg.Pool, thresholds: TenantThresholds, service: str, retry_budget_s: float) -> None:
        self._pool = pool
        self._thresholds = thresholds
        self._service = service
        self._retry_budget_s = retry_budget_s

    async def handle(self, events: list[CloudEvent]) -> list[Outgoing]:
        """Every scored event yields its verdict event: new ones stored first, replayed ones as stored then."""
        result = await retry_transient(lambda: self._decide_batch(events), self._retry_budget_s)
        # Counted once the batch is durable, so a retried batch is not counted twice.
        for verdict in result.new_verdicts:
            metrics.VERDICTS.labels(verdict.ai_forecast.value).inc()
        count_dead_letters(self._service, result.dead_letters)
        return result.outgoing

    async def _decide_batch(self, events: list[CloudEvent]) -> _BatchResult:
        by_tenant: dict[str, list[DealScored]] = defaultdict(list)
        for event in events:
            assert isinstance(event, DealScored)
            by_tenant[event.tenantid].append(event)
        result = _BatchResult()
        for tenant_id, scored in by_tenant.items():
            async with tenant_transaction(self._pool, tenant_id) as conn:
                stamped = await self._thresholds.get_in(conn, tenant_id)
                # Each in a savepoint: one poison event must not undo its neighbours.
                decided, dead_letters = await each_isolated(
                    conn, scored, partial(self._decide_one, conn, stamped), service=self._service,
                    topic_of=lambda _: DEAL_SCORED)
            for event, recorded in decided:
                if recorded.is_new:
                    result.new_verdicts.append(recorded.data)
                result.outgoing.append(Outgoing(DEAL_VERDICT, verdict_event(event, recorded.data)))
            result.outgoing.extend(dead_letters)
            result.dead_letters.extend(dead_letters)
        return result

    async def _decide_one(self, conn: asyncpg.Connection, stamped: StampedThresholds,
                          event: DealScored) -> tuple[DealScored, store.RecordedVerdict]:
        previous = await store.latest_verdict(conn, event.tenantid, event.dealid)
        data = decide(event.data, stamped, source_event_id=event.id, decided_at=utcnow(), previous=previous)
        return event, await store.record_verdict(conn, event.tenantid, event.dealid, data, event.data.scored_at)
