"""Verdict's stream edge: scored deals in, verdicts persisted once and published, per tenant transaction."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

import asyncpg

from dealpulse_common import metrics
from dealpulse_common.db import tenant_transaction
from dealpulse_common.events import CloudEvent, DealScored, DealVerdictData, utcnow
from dealpulse_common.kafka import Outgoing
from dealpulse_common.resilience import POISON, TRANSIENT, dead_letter_for, retry_transient
from dealpulse_common.topics import DEAL_SCORED, DEAL_VERDICT
from dealpulse_verdict import store
from dealpulse_verdict.handlers import decide, verdict_event
from dealpulse_verdict.tenant_thresholds import TenantThresholds
from dealpulse_verdict.thresholds import StampedThresholds

log = logging.getLogger(__name__)


@dataclass
class _BatchResult:
    outgoing: list[Outgoing] = field(default_factory=list)
    new_verdicts: list[DealVerdictData] = field(default_factory=list)
    dead_letters: int = 0


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
        if result.dead_letters:
            metrics.DEAD_LETTERS.labels(self._service, DEAL_SCORED.name).inc(result.dead_letters)
        return result.outgoing

    async def _decide_batch(self, events: list[CloudEvent]) -> _BatchResult:
        by_tenant: dict[str, list[DealScored]] = defaultdict(list)
        for event in events:
            assert isinstance(event, DealScored)
            by_tenant[event.tenantid].append(event)
        result = _BatchResult()
        for tenant_id, scored in by_tenant.items():
            async with tenant_transaction(self._pool, tenant_id) as conn:
                stamped = await self._thresholds.for_tenant(conn, tenant_id)
                for event in scored:
                    await self._decide_one(conn, event, stamped, result)
        return result

    async def _decide_one(self, conn: asyncpg.Connection, event: DealScored, stamped: StampedThresholds,
                          result: _BatchResult) -> None:
        try:
            async with conn.transaction():  # a savepoint: one poison event must not undo its neighbours
                data = decide(event.data, stamped, source_event_id=event.id, decided_at=utcnow())
                recorded = await store.record_verdict(conn, event.tenantid, event.dealid, data, event.data.scored_at)
        except TRANSIENT:
            raise
        except POISON as exc:
            log.exception("cannot decide a verdict for scored event %s; dead-lettered", event.id)
            result.outgoing.append(dead_letter_for(event, DEAL_SCORED, self._service, exc))
            result.dead_letters += 1
            return
        if recorded.is_new:
            result.new_verdicts.append(recorded.data)
        result.outgoing.append(Outgoing(DEAL_VERDICT, verdict_event(event, recorded.data)))
