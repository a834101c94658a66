"""Accepting a deal change: dedupe, merge, and publish the full snapshot before acknowledging.

The application module of ingest: every edge (the webhooks, the import jobs) hands its changes to ``Ingestor``,
which calls the normaliser, the store and the publisher in order; the rules it applies live in ``handlers.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from dealpulse_common.db import tenant_transaction
from dealpulse_common.events import DealChanged
from dealpulse_common.kafka import EventPublisher, Outgoing
from dealpulse_common.tenant_cache import TenantCache
from dealpulse_common.topics import DEAL_CHANGED
from dealpulse_ingest import store
from dealpulse_ingest.group_commit import GroupCommit
from dealpulse_ingest.handlers import (
    DealRow,
    IncomingChange,
    Outcome,
    changed_fields,
    deal_changed,
    folded,
    is_stale,
)
from dealpulse_ingest.normalize import StageMapping, canonical_changes
from dealpulse_ingest.payloads import GenericDealChange

log = logging.getLogger(__name__)


class Ingestor:
    """The one way a deal change enters DealPulse, whichever CRM, webhook dialect or file it came from.

    Every source turns its payload into a ``GenericDealChange`` (raw CRM stage names and all); ``prepare`` turns
    that into the canonical change (normalising stage, forecast category and closed/won), ``ingest`` stores and
    publishes it.
    """

    def __init__(self, pool: asyncpg.Pool, publisher: EventPublisher, *,
                 stage_mappings: TenantCache[StageMapping], max_group: int = 1) -> None:
        self._pool = pool
        self._publisher = publisher
        self._stage_mappings = stage_mappings
        self._groups: GroupCommit[IncomingChange, Outcome] = GroupCommit(self.ingest_many, max_group=max_group)

    async def prepare(self, tenant_id: str, payload: GenericDealChange, *, provider: str, event_id: str,
                      traceparent: str, received_at: datetime) -> IncomingChange:
        """The canonical change, normalised with the tenant's stage mapping (read from ``tenant_settings``
        through a short cache); raises a database-unavailable error when it cannot be read, as nothing was stored
        then."""
        if payload.deleted or payload.restored:
            changes: dict[str, Any] = {}
        else:
            changes = canonical_changes(payload, await self._stage_mappings.get(tenant_id))
        return IncomingChange(
            tenant_id=tenant_id, deal_id=payload.deal_id, event_id=event_id, provider=provider,
            modified_at=payload.modified_at, changes=changes, traceparent=traceparent,
            received_at=received_at, deleted=payload.deleted, restored=payload.restored,
        )

    async def ingest(self, change: IncomingChange) -> Outcome:
        """Raises ``PublishError`` or a database-unavailable error when nothing was stored (retry later).

        Stored with whatever else of the tenant arrived meanwhile, up to ``max_group`` changes (``group_commit``)."""
        return await self._groups.submit(change.tenant_id, change)

    async def ingest_many(self, changes: Sequence[IncomingChange]) -> list[Outcome]:
        """``ingest`` for several changes of one tenant, in order and all or nothing: one transaction and one
        round of acknowledgements instead of one each (what a file import needs to go fast)."""
        return await accept_changes(self._pool, self._publisher, changes)


async def accept_changes(pool: asyncpg.Pool, publisher: EventPublisher,
                         changes: Sequence[IncomingChange]) -> list[Outcome]:
    """Store and publish changes of one tenant; raises ``PublishError`` (and stores nothing) unless the broker
    acknowledged every published change.

    The transaction stays open until the broker acknowledged, so a 2xx always means stored and published,
    and a failure leaves no trace a retry would trip over.
    """
    if not changes:
        return []
    tenant_id = changes[0].tenant_id
    if any(change.tenant_id != tenant_id for change in changes):
        raise ValueError("changes of one tenant only: each tenant's rows are visible in its own transaction")
    if len(changes) > 1 and not any(change.deleted or change.restored for change in changes):
        try:
            return await _accept(pool, publisher, changes, _apply_together)
        except (_Contended, asyncpg.TransactionRollbackError):
            log.info("a group of %d changes met a concurrent writer; applying them one by one", len(changes))
    return await _accept(pool, publisher, changes, _apply_each)


Applied = list[tuple[Outcome, DealChanged | None]]


async def _accept(pool: asyncpg.Pool, publisher: EventPublisher, changes: Sequence[IncomingChange],
                  apply: Callable[[asyncpg.Connection, Sequence[IncomingChange]], Awaitable[Applied]]) -> list[Outcome]:
    async with tenant_transaction(pool, changes[0].tenant_id) as conn:
        applied = await apply(conn, changes)
        await publisher.publish_many([Outgoing(DEAL_CHANGED, event) for _, event in applied if event is not None])
    return [outcome for outcome, _ in applied]


async def _apply_each(conn: asyncpg.Connection, changes: Sequence[IncomingChange]) -> Applied:
    return [await _apply(conn, change) for change in changes]


class _Contended(Exception):
    """Another transaction recorded one of the group's deliveries or stored one of its new deals first."""


async def _apply_together(conn: asyncpg.Connection, changes: Sequence[IncomingChange]) -> Applied:
    """``_apply_each``'s rules (dedupe, stale, fold in order) for changes without deletions or restores, with a
    handful of statements for the whole group instead of three or four per change; each deal is written once,
    as its last change left it."""
    tenant_id = changes[0].tenant_id
    seen = await store.known_events(conn, tenant_id, [change.event_id for change in changes])
    locked = await store.lock_deals(conn, tenant_id, [change.deal_id for change in changes])
    current: dict[str, DealRow] = dict(locked)
    applied: Applied = []
    deliveries: list[dict[str, Any]] = []
    last_change: dict[str, IncomingChange] = {}
    for change in changes:
        if change.event_id in seen:
            applied.append((Outcome.DUPLICATE, None))
            continue
        seen.add(change.event_id)
        stored = current.get(change.deal_id)
        stale = is_stale(stored, change)
        deliveries.append(_delivery(change, "stale" if stale else "applied"))
        if stale:
            applied.append((Outcome.STALE, None))
            continue
        row = current[change.deal_id] = {**folded(stored, change), "deleted_at": None}
        last_change[change.deal_id] = change
        applied.append((Outcome.ACCEPTED, deal_changed(change, row)))
    if await store.record_events(conn, tenant_id, deliveries) != len(deliveries):
        raise _Contended
    rows = [{"deal_id": deal_id, "snapshot": current[deal_id]["snapshot"],
             "source_modified_at": change.modified_at, "history_state": current[deal_id]["history_state"],
             "last_event_id": change.event_id} for deal_id, change in last_change.items()]
    await store.update_deals(conn, tenant_id, [row for row in rows if row["deal_id"] in locked])
    new_rows = [row for row in rows if row["deal_id"] not in locked]
    if await store.insert_deals(conn, tenant_id, new_rows) != len(new_rows):
        raise _Contended
    return applied


def _delivery(change: IncomingChange, outcome: str) -> dict[str, Any]:
    return {"event_id": change.event_id, "deal_id": change.deal_id, "provider": change.provider, "outcome": outcome,
            "changed_fields": changed_fields(change), "source_modified_at": change.modified_at,
            "received_at": change.received_at, "changes": change.changes}


async def _apply(conn: asyncpg.Connection, change: IncomingChange) -> tuple[Outcome, DealChanged | None]:
    """Dedupe and merge one change in the caller's transaction; the event to publish when it was applied."""
    is_new = await store.record_event(
        conn, tenant_id=change.tenant_id, event_id=change.event_id, deal_id=change.deal_id,
        provider=change.provider, changed_fields=changed_fields(change), modified_at=change.modified_at,
        received_at=change.received_at, changes=change.changes,
    )
    if not is_new:
        return Outcome.DUPLICATE, None
    if change.deleted:
        row = await store.delete_deal(conn, tenant_id=change.tenant_id, deal_id=change.deal_id,
                                      modified_at=change.modified_at, event_id=change.event_id)
    elif change.restored:
        row = await store.restore_deal(conn, tenant_id=change.tenant_id, deal_id=change.deal_id,
                                       modified_at=change.modified_at, event_id=change.event_id)
    else:
        row = await _merge(conn, change)
    if row is None:
        await store.mark_stale(conn, change.tenant_id, change.event_id)
        return Outcome.STALE, None
    return Outcome.ACCEPTED, deal_changed(change, row)




async def _merge(conn: asyncpg.Connection, change: IncomingChange) -> DealRow | None:
    """The deal row after folding the change in, or None when it is stale."""
    for _ in range(2):  # a second pass only when another transaction stored the same new deal first
        stored = await store.lock_deal(conn, change.tenant_id, change.deal_id)
        if is_stale(stored, change):
            return None
        row = folded(stored, change)
        values = dict(tenant_id=change.tenant_id, deal_id=change.deal_id, snapshot=row["snapshot"],
                      modified_at=change.modified_at, history_state=row["history_state"], event_id=change.event_id)
        if stored is not None:
            await store.update_deal(conn, **values)
            return row
        if await store.insert_deal(conn, **values):
            return row
    raise RuntimeError(f"deal {change.deal_id} was neither stored nor found")
