"""Switching models between batches, and re-scoring every open deal the switch affects.

Runs as the stream processor's between-batches step, in the consumer's own loop, so it never overlaps a batch:

* a new ``ServingModels`` offered by the watcher is adopted before the next batch (a batch is scored by one
  model), and the tenants it affects are queued: every tenant with open deals for a new global version (those
  with their own model are left alone by the version check below), the tenant itself for a tenant model;
* each step then re-scores at most ``chunk`` open deals of one tenant: those whose latest score (``deal_risk``)
  another model version made, and whose partition this replica holds. Only the partition's owner scores a
  deal's changes, and it does so in this same loop, so no change of that deal is being scored meanwhile and the
  re-score is published in order with the deal's real changes. The rows are also locked (``FOR UPDATE``) for
  the rare rebalance where two replicas briefly disagree, and ``deal_risk``'s upsert keeps whichever snapshot
  is newer;
* a re-score is a ``DealChanged`` built from the stored snapshot (same ``as_of``), scored by
  ``ScoringCore.score_in`` like any change, persisted, and published inside the same transaction, which
  commits only after the broker acknowledged (as ingest does): a failure rolls back and the deal is simply
  found again. Its id is deterministic, ``rescore:{version}:{deal}:{id of the score it replaces}``, so a replay
  is idempotent in ``risk_scores`` and deduplicated downstream.

The work queue is memory, but the work is not: it is "open deals not scored by the model that serves them",
which a query finds again. So a start, and every partition gained in a rebalance, queues every tenant.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

import asyncpg
from aiokafka import TopicPartition
from pydantic import ValidationError

from dealpulse_common import metrics
from dealpulse_common.db import DATABASE_UNAVAILABLE, tenant_transaction
from dealpulse_common.deal import CanonicalDeal
from dealpulse_common.events import (
    RESCORE_PROVIDER,
    DealChanged,
    DealChangedData,
    deterministic_id,
    partition_key,
    utcnow,
)
from dealpulse_common.kafka import Assignment, EventPublisher, Outgoing, PublishError
from dealpulse_common.logging import tenant_var, traceparent_var
from dealpulse_common.topics import DEAL_CHANGED, DEAL_SCORED
from dealpulse_common.tracing import new_traceparent
from dealpulse_scorer import store
from dealpulse_scorer.scoring import SOURCE, ScoringCore, scored_event
from dealpulse_scorer.serving import ServingModels, export_model_info

log = logging.getLogger(__name__)

RESCORE_PREFIX = "rescore:"
RETRY_AFTER_S = 5.0


def rescore_event_id(version: str, deal_id: str, replaced_source_event_id: str) -> str:
    """Deterministic per (model version, score replaced). A chain of switches would nest ids without bound, so a
    replaced id that is itself a re-score is shortened to its digest (still unique per replaced score)."""
    replaced = replaced_source_event_id
    if replaced.startswith(RESCORE_PREFIX):
        replaced = f"~{deterministic_id(replaced)}"
    return f"{RESCORE_PREFIX}{version}:{deal_id}:{replaced}"


class Rescorer:
    def __init__(self, pool: asyncpg.Pool, publisher: EventPublisher, core: ScoringCore, chunk: int = 100) -> None:
        self._pool = pool
        self._publisher = publisher
        self._core = core
        self._chunk = chunk
        self._offered: ServingModels | None = None
        self._queue: dict[str, str] = {}  # tenant -> last deal id done (keyset cursor), in visiting order
        self._discover = False  # queue every tenant with open deals at the next step
        self._partitions: frozenset[TopicPartition] = frozenset()
        self._resume_at = 0.0

    def offer(self, models: ServingModels) -> None:
        """Serve ``models`` from the next batch boundary on (the latest offer wins)."""
        self._offered = models

    async def between_batches(self, assignment: Assignment) -> bool:
        """One step: adopt an offered switch, then re-score one chunk. True while more work is queued."""
        self._adopt()
        gained = assignment.partitions - self._partitions
        self._partitions = frozenset(assignment.partitions)
        if gained:
            self._discover = True  # a start or a rebalance: the previous owner may have left work undone
        if not assignment.partitions or not assignment.knows(DEAL_CHANGED) or time.monotonic() < self._resume_at:
            return False
        try:
            if self._discover:
                async with self._pool.acquire() as conn:
                    for tenant_id in await store.tenants_with_open_deals(conn):
                        self._queue[tenant_id] = ""
                self._discover = False
            if self._queue:
                await self._rescore_chunk(assignment)
        except (*DATABASE_UNAVAILABLE, PublishError, asyncpg.PostgresError) as error:
            # Re-scoring is catch-up work: it waits and retries, and never takes the stream down with it.
            log.warning("re-scoring paused for %.0f s: %r", RETRY_AFTER_S, error)
            self._resume_at = time.monotonic() + RETRY_AFTER_S
            return False
        return bool(self._queue)

    def _adopt(self) -> None:
        offered, self._offered = self._offered, None
        if offered is None:
            return
        tenant_var.set(None)  # the last batch's tenant and trace are not this switch's
        traceparent_var.set(None)
        previous = self._core.switch(offered)
        export_model_info(previous, offered)
        log.info("serving models %s (were %s)", _describe(offered), _describe(previous))
        if previous.global_model.version != offered.global_model.version:
            self._discover = True
        for tenant_id in set(previous.tenant_models) | set(offered.tenant_models):
            if previous.for_tenant(tenant_id).version != offered.for_tenant(tenant_id).version:
                self._queue[tenant_id] = ""  # from the start: every open deal needs the new model

    async def _rescore_chunk(self, assignment: Assignment) -> None:
        tenant_id, after = next(iter(self._queue.items()))
        model = self._core.models.for_tenant(tenant_id)
        now = utcnow()
        traceparent = new_traceparent()  # one trace per chunk, so its log lines and events can be followed
        tenant_var.set(tenant_id)
        traceparent_var.set(traceparent)
        async with tenant_transaction(self._pool, tenant_id) as conn:
            rows = await store.open_deals_not_scored_by(conn, tenant_id, model.version, after, self._chunk)
            owned = [row for row in rows if assignment.owns(DEAL_CHANGED, partition_key(tenant_id, row.deal_id))]
            changes = [change for row in owned
                       if (change := _rescore_change(tenant_id, row, model.version, now, traceparent)) is not None]
            scored = await self._core.score_in(conn, model, tenant_id, changes, live=False)
            await self._publisher.publish_many(
                [Outgoing(DEAL_SCORED, scored_event(change, data, {"scored_at": data.scored_at}))
                 for change, data in scored])
        if len(rows) < self._chunk:
            del self._queue[tenant_id]
            log.info("re-scored the open deals of tenant %s with %s", tenant_id, model.version)
        else:
            self._queue[tenant_id] = rows[-1].deal_id
        if scored:
            metrics.RESCORES.labels(model.scope).inc(len(scored))


def _rescore_change(tenant_id: str, row: store.OpenDeal, version: str, now: datetime,
                    traceparent: str) -> DealChanged | None:
    """The stored snapshot as a change to score. Its time is the stored ``source_modified_at``: the same ``as_of``
    as the score it replaces, so only the model differs, and ``deal_risk`` never takes it over a newer snapshot."""
    event_id = rescore_event_id(version, row.deal_id, row.source_event_id)
    try:
        deal = CanonicalDeal.model_validate(row.deal)
    except ValidationError as error:  # a snapshot this code cannot read must not stall the tenant's other deals
        log.error("cannot re-score deal %s of tenant %s: stored snapshot invalid: %s", row.deal_id, tenant_id, error)
        return None
    return DealChanged.create(
        source=SOURCE, tenant_id=tenant_id, deal_id=row.deal_id, id=event_id, time=row.source_modified_at,
        traceparent=traceparent,
        data=DealChangedData(deal=deal, changed_fields=[], provider=RESCORE_PROVIDER, source_event_id=event_id,
                             received_at=now),
    )


def _describe(models: ServingModels) -> str:
    tenants = ", ".join(f"{t}: {m.version}" for t, m in sorted(models.tenant_models.items()))
    return f"global {models.global_model.version}" + (f"; {tenants}" if tenants else "")
