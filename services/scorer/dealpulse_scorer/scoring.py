"""The scorer's core: which models serve, and how a tenant's changes become persisted, explained scores.

Every path that scores goes through here, so they cannot drift apart: the stream (``consumer.py``), the re-scoring
after a promotion (``rescore.py``) and the synchronous what-if ``POST /score`` (``routes.py``). The core owns the
serving models (swapped between batches), the won-deal library the similar deals are picked from, and the drift
monitor live scores feed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime

import asyncpg
import numpy as np

from dealpulse_common import metrics
from dealpulse_common.deal import CanonicalDeal
from dealpulse_common.events import DealChanged, DealScored, DealScoredData, utcnow
from dealpulse_scorer import store
from dealpulse_scorer.drift import DriftMonitor
from dealpulse_scorer.handlers import Previous, Scored, ScoreInput, score_deals
from dealpulse_scorer.model import LoadedModel
from dealpulse_scorer.serving import ServingModels
from dealpulse_scorer.won_library import won_deal_library

SERVICE = "scorer"
SOURCE = f"dealpulse/{SERVICE}"
WHAT_IF_EVENT_ID = "sync"  # a what-if score answers one request and is never stored under an event id
ScoredChanges = list[tuple[DealChanged, DealScoredData]]


class ScoringCore:
    def __init__(self, pool: asyncpg.Pool, models: ServingModels, drift: DriftMonitor | None = None) -> None:
        self._pool = pool
        self._models = models
        self._drift = drift
        self._won_library = won_deal_library(pool)

    @property
    def models(self) -> ServingModels:
        """The models serving now (a batch in progress keeps the snapshot it started with)."""
        return self._models

    def switch(self, models: ServingModels) -> ServingModels:
        """Serve ``models`` from the next batch on; returns what served until now. Called between batches."""
        previous, self._models = self._models, models
        return previous

    async def score_in(
        self, conn: asyncpg.Connection, model: LoadedModel, tenant_id: str, changes: list[DealChanged], *, live: bool
    ) -> ScoredChanges:
        """Score ``changes`` of one tenant with ``model`` and persist them in the caller's transaction. A change
        scored before (a replay) gets its stored score back instead. ``live`` changes count towards drift."""
        already = await store.stored_scores(conn, tenant_id, [c.data.source_event_id for c in changes])
        fresh = [c for c in changes if c.data.source_event_id not in already]
        stored = await store.previous_scores(conn, tenant_id, [c.dealid for c in fresh], model.version)
        previous = {deal_id: _previous(p) for deal_id, p in stored.items()}
        won = await self._won_library.get_in(conn, tenant_id) if fresh else []
        new_scores = await _score(model, fresh, previous, won)
        await store.save_scores(conn, tenant_id, [_row(c, s) for c, s in zip(fresh, new_scores, strict=True)])
        if any(c.data.deal.is_closed and c.data.deal.is_won for c in fresh):
            self._won_library.forget(tenant_id)
        if live and self._drift is not None and new_scores:
            self._drift.observe(model, tenant_id, np.asarray([s.features for s in new_scores], dtype=np.float64))
        by_event = {c.data.source_event_id: s.data for c, s in zip(fresh, new_scores, strict=True)}
        by_event.update({event_id: DealScoredData.model_validate(payload) for event_id, payload in already.items()})
        return [(c, by_event[c.data.source_event_id]) for c in changes]

    async def forget(self, conn: asyncpg.Connection, tenant_id: str, deletions: Sequence[DealChanged]) -> None:
        """Take deleted deals out of the live read model (their history stays) and out of the won-deal library."""
        await store.forget_deals(conn, tenant_id, [(c.dealid, as_of(c)) for c in deletions])
        self._won_library.forget(tenant_id)

    async def score_what_if(self, deal: CanonicalDeal) -> DealScoredData:
        """Score one deal as of now with the tenant's serving model, explained like any change; nothing is stored."""
        model = self._models.for_tenant(deal.tenant_id)
        won = await self._won_library.get(deal.tenant_id)  # a transaction only when the library is not cached
        now = utcnow()
        [result] = await asyncio.to_thread(
            score_deals, model, [ScoreInput(deal, now, source_event_id=WHAT_IF_EVENT_ID)], now, won)
        return result.data


async def _score(model: LoadedModel, changes: list[DealChanged], previous: dict[str, Previous],
                 won: list[CanonicalDeal]) -> list[Scored]:
    """Score in rounds where each deal appears once, so a deal changed twice in a batch chains its deltas."""
    results: dict[int, Scored] = {}
    for round_ in _rounds(changes):
        inputs = [ScoreInput(changes[i].data.deal, as_of(changes[i]), changes[i].data.source_event_id,
                             previous.get(changes[i].dealid)) for i in round_]
        started = time.perf_counter()
        scored = await asyncio.to_thread(score_deals, model, inputs, utcnow(), won)
        metrics.INFERENCE_DURATION.observe(time.perf_counter() - started)
        for index, result in zip(round_, scored, strict=True):
            results[index] = result
            previous[changes[index].dealid] = Previous(
                result.data.risk_score, result.data.risk_category.value, result.features, result.data.scored_at,
                model_version=model.version)
            metrics.SCORES.labels(result.data.risk_category.value).inc()
    return [results[i] for i in range(len(changes))]


def _previous(stored: store.PreviousScore) -> Previous:
    return Previous(stored.risk_score, stored.risk_category, stored.features, stored.scored_at,
                    model_version=stored.model_version,
                    deal=CanonicalDeal.model_validate(stored.deal) if stored.deal is not None else None,
                    as_of=stored.source_modified_at)


def _rounds(changes: Sequence[DealChanged]) -> list[list[int]]:
    rounds: list[list[int]] = []
    seen_in: dict[str, int] = {}
    for index, change in enumerate(changes):
        round_no = seen_in.get(change.dealid, -1) + 1
        seen_in[change.dealid] = round_no
        if round_no == len(rounds):
            rounds.append([])
        rounds[round_no].append(index)
    return rounds


def as_of(change: DealChanged) -> datetime:
    """The time a change is scored as of: the CRM's modification time of its snapshot."""
    return change.data.deal.source_modified_at or change.time


def _row(change: DealChanged, scored: Scored) -> store.ScoreRow:
    data = scored.data
    return store.ScoreRow(
        deal_id=change.dealid, source_event_id=data.source_event_id, risk_score=data.risk_score,
        risk_category=data.risk_category.value, win_probability=data.win_probability, model_version=data.model_version,
        features=scored.features, payload=data.model_dump(mode="json"), amount=data.deal.amount,
        owner_id=data.deal.owner_id, is_closed=data.deal.is_closed, source_modified_at=as_of(change),
        scored_at=data.scored_at,
    )


def stream_timing(change: DealChanged, data: DealScoredData, consumed_at: datetime) -> dict[str, datetime]:
    return {"received_at": change.data.received_at, "ingest_published_at": change.time,
            "scorer_consumed_at": consumed_at, "scored_at": data.scored_at}


def scored_event(change: DealChanged, data: DealScoredData, timing: dict[str, datetime]) -> DealScored:
    return DealScored.create(
        source=SOURCE, tenant_id=change.tenantid, deal_id=change.dealid,
        data=data.model_copy(update={"timing": timing, "provider": change.data.provider}), id=f"scored:{change.id}",
        traceparent=change.traceparent,
    )
