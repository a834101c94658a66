"""Verdict's stream edge: scored deals and override commands in, verdicts persisted once and published, per tenant
transaction, in the order consumed."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial

import asyncpg

from dealpulse_common import metrics
from dealpulse_common.db import tenant_transaction
from dealpulse_common.events import CloudEvent, DealScored, DealVerdict, DealVerdictData, DealVerdictOverride, utcnow
from dealpulse_common.kafka import Outgoing
from dealpulse_common.resilience import count_dead_letters, retry_transient, together_else_isolated
from dealpulse_common.topics import DEAL_SCORED, DEAL_VERDICT, DEAL_VERDICT_OVERRIDE, Topic
from dealpulse_verdict import store
from dealpulse_verdict.handlers import decide, verdict_event, with_override
from dealpulse_verdict.tenant_thresholds import TenantThresholds
from dealpulse_verdict.thresholds import StampedThresholds

CONSUMED_TOPICS = [DEAL_SCORED, DEAL_VERDICT_OVERRIDE]
Incoming = DealScored | DealVerdictOverride


@dataclass(frozen=True)
class _Handled:
    event: DealVerdict
    new_verdict: DealVerdictData | None = None  # an AI verdict stored for the first time (counted once durable)


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
        """Every scored event yields its verdict event (new ones stored first, replayed ones as stored then); every
        override command the deal's verdict re-stated with it."""
        result = await retry_transient(lambda: self._handle_batch(events), self._retry_budget_s)
        # Counted once the batch is durable, so a retried batch is not counted twice.
        for verdict in result.new_verdicts:
            metrics.VERDICTS.labels(verdict.ai_forecast.value).inc()
        count_dead_letters(self._service, result.dead_letters)
        return result.outgoing

    async def _handle_batch(self, events: list[CloudEvent]) -> _BatchResult:
        by_tenant: dict[str, list[Incoming]] = defaultdict(list)
        for event in events:
            assert isinstance(event, DealScored | DealVerdictOverride)
            by_tenant[event.tenantid].append(event)
        result = _BatchResult()
        for tenant_id, incoming in by_tenant.items():
            async with tenant_transaction(self._pool, tenant_id) as conn:
                stamped = await self._thresholds.get_in(conn, tenant_id)
                # One poison event must not undo its neighbours.
                handled, dead_letters = await together_else_isolated(
                    conn, incoming, partial(self._handle_one, conn, stamped), service=self._service,
                    topic_of=_topic_of)
            for outcome in handled:
                if outcome.new_verdict is not None:
                    result.new_verdicts.append(outcome.new_verdict)
                result.outgoing.append(Outgoing(DEAL_VERDICT, outcome.event))
            result.outgoing.extend(dead_letters)
            result.dead_letters.extend(dead_letters)
        return result

    async def _handle_one(self, conn: asyncpg.Connection, stamped: StampedThresholds, event: Incoming) -> _Handled:
        if isinstance(event, DealVerdictOverride):
            return await self._apply_override(conn, event)
        previous = await store.latest_verdict(conn, event.tenantid, event.dealid)
        data = decide(event.data, stamped, source_event_id=event.id, decided_at=utcnow(), previous=previous)
        recorded = await store.record_verdict(conn, event.tenantid, event.dealid, data, event.data.scored_at)
        return _Handled(verdict_event(event, recorded.data), recorded.data if recorded.is_new else None)

    async def _apply_override(self, conn: asyncpg.Connection, command: DealVerdictOverride) -> _Handled:
        """Record the command and re-state the deal's verdict with it; a replayed command re-publishes the deal's
        verdict as it stands, under the same event id."""
        current = await store.latest_verdict(conn, command.tenantid, command.dealid)
        if current is None:
            raise ValueError("the deal has no verdict to override")
        after = with_override(current, command.data)
        if not await store.record_override(conn, command, current, after):
            after = current
        return _Handled(verdict_event(command, after))


def _topic_of(event: Incoming) -> Topic[CloudEvent]:
    return DEAL_VERDICT_OVERRIDE if isinstance(event, DealVerdictOverride) else DEAL_SCORED
