"""Alerts' stream edge: scores and verdicts in; alerts throttled, stored, published, and marked published.

The handler publishes its alerts itself and returns nothing for ``StreamProcessor`` to send: an alert row is
written first (in the tenant's transaction, with the throttle check), published after that commits, and marked
published once the broker acknowledged it. A replay (kill -9, rebalance) therefore republishes only an alert that
never reached the topic, and never raises a second one for the same event.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TypeAlias

import asyncpg

from dealpulse_alerts import delivery_store, store
from dealpulse_alerts.card_cache import DealCardCache, DealKey
from dealpulse_alerts.deal_card import DealCard
from dealpulse_alerts.handlers import (
    AlertRules,
    Candidate,
    PastScore,
    alert_event,
    compose_alert,
    may_jump,
    scored_candidates,
    verdict_candidates,
)
from dealpulse_alerts.planning import plan_deliveries
from dealpulse_alerts.tenant_rules import TenantAlertRules
from dealpulse_alerts.throttle import AlertThrottle, Decision
from dealpulse_common import metrics
from dealpulse_common.db import tenant_transaction
from dealpulse_common.events import AlertType, CloudEvent, DealAlert, DealScored, DealVerdict, utcnow
from dealpulse_common.kafka import EventPublisher, Outgoing
from dealpulse_common.resilience import POISON, TRANSIENT, count_dead_letters, each_isolated, retry_transient
from dealpulse_common.topics import DEAL_ALERTS, DEAL_SCORED, DEAL_VERDICT, Topic

log = logging.getLogger(__name__)

SourceEvent: TypeAlias = DealScored | DealVerdict


@dataclass(frozen=True)
class AlertsConfig:
    rules: TenantAlertRules  # each tenant's rules in force
    dashboard_url: str
    retry_budget_s: float
    service: str


@dataclass
class _BatchResult:
    to_publish: list[DealAlert] = field(default_factory=list)
    raised: list[AlertType] = field(default_factory=list)
    throttled: list[AlertType] = field(default_factory=list)
    snoozed: list[AlertType] = field(default_factory=list)
    dead_letters: list[Outgoing] = field(default_factory=list)


class AlertsConsumer:
    def __init__(self, pool: asyncpg.Pool, publisher: EventPublisher, throttle: AlertThrottle,
                 cards: DealCardCache, config: AlertsConfig) -> None:
        self._pool = pool
        self._publisher = publisher
        self._throttle = throttle
        self._cards = cards
        self._config = config

    async def handle(self, events: list[CloudEvent]) -> list[Outgoing]:
        result = await retry_transient(lambda: self._alert_batch(events), self._config.retry_budget_s)
        # Counted once the batch is durable and published, so a retried batch is not counted twice.
        for alert_type in result.raised:
            metrics.ALERTS.labels(alert_type.value).inc()
        for alert_type in result.throttled:
            metrics.ALERTS_THROTTLED.labels(alert_type.value).inc()
        for alert_type in result.snoozed:
            metrics.ALERTS_SNOOZED.labels(alert_type.value).inc()
        count_dead_letters(self._config.service, result.dead_letters)
        return []

    async def _alert_batch(self, events: list[CloudEvent]) -> _BatchResult:
        scored = [e for e in events if isinstance(e, DealScored)]
        await self._cards.remember(scored)
        rules = {tenant_id: await self._config.rules.get(tenant_id) for tenant_id in {e.tenantid for e in events}}
        lowest = await self._lowest_recent_scores(scored, rules)
        candidates = {event.id: found for event in events
                      if (found := self._candidates(event, lowest, rules[event.tenantid]))}
        result = _BatchResult()
        if not candidates:
            return result
        pending = [e for e in events if isinstance(e, DealScored | DealVerdict) and e.id in candidates]
        cards = await self._cards.recall([(e.tenantid, e.dealid) for e in pending if isinstance(e, DealVerdict)])
        by_tenant: dict[str, list[SourceEvent]] = defaultdict(list)
        for event in pending:
            by_tenant[event.tenantid].append(event)
        for tenant_id, tenant_events in by_tenant.items():
            async with tenant_transaction(self._pool, tenant_id) as conn:
                # Each in a savepoint: one poison event must not undo its neighbours.
                _, dead_letters = await each_isolated(
                    conn, tenant_events, partial(self._alert_one, conn, candidates, cards, rules[tenant_id], result),
                    service=self._config.service, topic_of=_source_topic,
                    on_poison=partial(self._release, candidates))
            result.dead_letters.extend(dead_letters)
        await self._publish(result)
        return result

    async def _lowest_recent_scores(self, scored: list[DealScored],
                                    rules: dict[str, AlertRules]) -> dict[str, PastScore | None]:
        """Per scored event that could be a risk jump, the deal's lowest stored score of the jump window before it."""
        by_tenant: dict[str, list[DealScored]] = defaultdict(list)
        for event in scored:
            if may_jump(event.data, rules[event.tenantid]):
                by_tenant[event.tenantid].append(event)
        lowest: dict[str, PastScore | None] = {}
        for tenant_id, tenant_events in by_tenant.items():
            asked = [(e.dealid, e.data.scored_at) for e in tenant_events]
            async with tenant_transaction(self._pool, tenant_id) as conn:
                found = await self._lowest_in(conn, tenant_id, asked, rules[tenant_id].risk_jump_window)
            lowest.update(zip((e.id for e in tenant_events), found, strict=True))
        return lowest

    async def _lowest_in(self, conn: asyncpg.Connection, tenant_id: str, asked: list[tuple[str, datetime]],
                         window: timedelta) -> list[PastScore | None]:
        """All of a tenant's look-ups in one query; if one event's data makes it fail (a deal id PostgreSQL cannot
        hold), one by one, each in a savepoint: that event has no stored score, and is dead-lettered where it is
        stored, while its neighbours go on."""
        try:
            async with conn.transaction():
                return await store.lowest_recent_scores(conn, tenant_id, asked, window)
        except TRANSIENT:
            raise
        except POISON:
            log.warning("a deal of a batch of %d cannot be looked up; looking them up one by one", len(asked))
        found: list[PastScore | None] = []
        for one in asked:
            try:
                async with conn.transaction():
                    found.extend(await store.lowest_recent_scores(conn, tenant_id, [one], window))
            except TRANSIENT:
                raise
            except POISON:
                found.append(None)
        return found

    def _candidates(self, event: CloudEvent, lowest: dict[str, PastScore | None],
                    rules: AlertRules) -> list[Candidate]:
        if isinstance(event, DealScored):
            return scored_candidates(event, rules, lowest.get(event.id))
        if isinstance(event, DealVerdict):
            return verdict_candidates(event)
        raise TypeError(f"alerts consumes scores and verdicts, not {type(event).__name__}")

    async def _alert_one(self, conn: asyncpg.Connection, candidates: dict[str, list[Candidate]],
                         cards: dict[DealKey, DealCard], rules: AlertRules, result: _BatchResult,
                         event: SourceEvent) -> None:
        """Raise the first candidate the throttle admits; one source event raises at most one alert."""
        for candidate in candidates[event.id]:
            if await delivery_store.snoozed(conn, candidate.tenant_id, candidate.deal_id, candidate.alert_type.value,
                                            candidate.occurred_at):
                result.snoozed.append(candidate.alert_type)
                continue
            admission = await self._throttle.admit(conn, candidate, rules.throttle_window)
            if admission.decision is Decision.THROTTLED:
                result.throttled.append(candidate.alert_type)
                continue
            if admission.decision is Decision.ALREADY_RAISED:
                if not admission.published and admission.stored is not None:
                    result.to_publish.append(alert_event(event.tenantid, event.dealid, admission.stored,
                                                         event.traceparent))
                return
            alert = compose_alert(candidate, event, self._config.dashboard_url,
                                  cards.get((event.tenantid, event.dealid)))
            alert, deliveries = await plan_deliveries(conn, alert, first_score(event), utcnow())
            if await store.insert_alert(conn, alert):
                # In the alert's own transaction: an alert stored is an alert whose deliveries are stored.
                await delivery_store.insert_deliveries(conn, event.tenantid, deliveries)
                result.to_publish.append(alert)
                result.raised.append(candidate.alert_type)
            return

    async def _release(self, candidates: dict[str, list[Candidate]], event: SourceEvent) -> None:
        """A poison event's throttle claims go, so they do not hold a window for an alert that was never stored."""
        for candidate in candidates[event.id]:
            await self._throttle.release(candidate)

    async def _publish(self, result: _BatchResult) -> None:
        await self._publisher.publish_many([Outgoing(DEAL_ALERTS, alert) for alert in result.to_publish]
                                           + result.dead_letters)
        published: dict[str, list[str]] = defaultdict(list)
        for alert in result.to_publish:
            published[alert.tenantid].append(alert.data.alert_id)
        for tenant_id, alert_ids in published.items():
            async with tenant_transaction(self._pool, tenant_id) as conn:
                await store.mark_published(conn, tenant_id, alert_ids)


def first_score(event: SourceEvent) -> bool:
    """The deal's very first score (a CRM just connected, or the deal is new): nothing to compare it with."""
    return isinstance(event, DealScored) and event.data.since_previous is None


def _source_topic(event: SourceEvent) -> Topic[CloudEvent]:
    return DEAL_SCORED if isinstance(event, DealScored) else DEAL_VERDICT
