"""Accepting a deal change: dedupe, merge, and publish the full snapshot before acknowledging."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import asyncpg

from dealpulse_common.db import tenant_transaction
from dealpulse_common.deal import CanonicalDeal, DealHistory
from dealpulse_common.events import DealChanged, DealChangedData
from dealpulse_common.kafka import EventPublisher
from dealpulse_common.topics import DEAL_CHANGED
from dealpulse_ingest import store
from dealpulse_ingest.normalize import StageMapping
from dealpulse_ingest.payloads import GenericDealChange
from dealpulse_ingest.stage_mappings import StageMappings

SOURCE = "dealpulse/ingest"
DEFAULT_MAPPING_TTL_S = 5.0
DELETED_FIELDS = ["deleted"]


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    STALE = "stale"


@dataclass(frozen=True)
class IncomingChange:
    tenant_id: str
    deal_id: str
    event_id: str
    provider: str
    modified_at: datetime
    changes: dict[str, Any]
    traceparent: str
    received_at: datetime
    deleted: bool = False  # a tombstone: the deal leaves the pipeline, its row stays for audit


def event_id_for(tenant_id: str, explicit: str | None, body: bytes) -> str:
    """The CRM's own id when it sends one, else a digest of the delivery so a re-send is recognised."""
    if explicit:
        return explicit
    return "sha256:" + hashlib.sha256(tenant_id.encode() + b"\0" + body).hexdigest()


class Ingestor:
    """The one way a deal change enters DealPulse, whichever CRM, webhook dialect or file it came from.

    Every source turns its payload into a ``GenericDealChange`` (raw CRM stage names and all); ``prepare`` turns
    that into the canonical change (normalising stage, forecast category and closed/won), ``ingest`` stores and
    publishes it.
    """

    def __init__(self, pool: asyncpg.Pool, publisher: EventPublisher, *,
                 stage_mappings: StageMappings | None = None) -> None:
        self._pool = pool
        self._publisher = publisher
        self._stage_mappings = stage_mappings or StageMappings(pool, ttl_s=DEFAULT_MAPPING_TTL_S)

    async def prepare(self, tenant_id: str, payload: GenericDealChange, *, provider: str, event_id: str,
                      traceparent: str, received_at: datetime,
                      mapping: StageMapping | None = None) -> IncomingChange:
        """The canonical change, normalised with the tenant's stage mapping (read from ``tenant_settings``
        through a short cache unless ``mapping`` is given); raises a database-unavailable error when it cannot be
        read, as nothing was stored then."""
        if payload.deleted:
            changes: dict[str, Any] = {}
        else:
            if mapping is None:
                mapping = await self._stage_mappings.get(tenant_id)
            changes = payload.snapshot_changes(mapping)
        return IncomingChange(
            tenant_id=tenant_id, deal_id=payload.deal_id, event_id=event_id, provider=provider,
            modified_at=payload.modified_at, changes=changes, traceparent=traceparent,
            received_at=received_at, deleted=payload.deleted,
        )

    async def ingest(self, change: IncomingChange) -> Outcome:
        """Raises ``PublishError`` or a database-unavailable error when nothing was stored (retry later)."""
        return await accept_change(self._pool, self._publisher, change)


async def accept_change(pool: asyncpg.Pool, publisher: EventPublisher, change: IncomingChange) -> Outcome:
    """Store and publish one change; raises ``PublishError`` (and stores nothing) if the broker does not ack.

    The transaction stays open until the broker acknowledged, so a 2xx always means stored and published,
    and a failure leaves no trace a retry would trip over.
    """
    async with tenant_transaction(pool, change.tenant_id) as conn:
        is_new = await store.record_event(
            conn, tenant_id=change.tenant_id, event_id=change.event_id, deal_id=change.deal_id,
            provider=change.provider, changed_fields=_changed_fields(change), modified_at=change.modified_at,
            received_at=change.received_at,
        )
        if not is_new:
            return Outcome.DUPLICATE
        if change.deleted:
            row = await store.delete_deal(conn, tenant_id=change.tenant_id, deal_id=change.deal_id,
                                          modified_at=change.modified_at, event_id=change.event_id)
        else:
            row = await store.merge_change(conn, tenant_id=change.tenant_id, deal_id=change.deal_id,
                                           changes=change.changes, modified_at=change.modified_at,
                                           event_id=change.event_id)
        if row is None:
            await store.mark_stale(conn, change.tenant_id, change.event_id)
            return Outcome.STALE
        await publisher.publish(DEAL_CHANGED, _deal_changed(change, row))
    return Outcome.ACCEPTED


def _deal_changed(change: IncomingChange, row: asyncpg.Record) -> DealChanged:
    deal = snapshot_to_deal(change.tenant_id, change.deal_id, row)
    data = DealChangedData(deal=deal, changed_fields=_changed_fields(change), provider=change.provider,
                           source_event_id=change.event_id, received_at=change.received_at, deleted=change.deleted)
    return DealChanged.create(source=SOURCE, tenant_id=change.tenant_id, deal_id=change.deal_id, data=data,
                              id=f"{change.tenant_id}:{change.event_id}", traceparent=change.traceparent)


def _changed_fields(change: IncomingChange) -> list[str]:
    return list(DELETED_FIELDS) if change.deleted else sorted(change.changes)


def snapshot_to_deal(tenant_id: str, deal_id: str, row: asyncpg.Record) -> CanonicalDeal:
    modified_at: datetime = row["source_modified_at"]
    activity: list[datetime] = row["activity_at"]
    snapshot = CanonicalDeal.model_validate(
        {**row["snapshot"], "tenant_id": tenant_id, "deal_id": deal_id, "source_modified_at": modified_at}
    )
    last_activity = snapshot.last_activity_at
    snapshot.history = DealHistory(
        stage_entered_at=row["stage_entered_at"],
        close_date_push_count=row["close_date_push_count"],
        amount_change_count=row["amount_change_count"],
        activity_count_30d=sum(1 for a in activity if a > modified_at - timedelta(days=30)),
        days_since_last_activity=(
            round((modified_at - last_activity).total_seconds() / 86400, 3) if last_activity else None
        ),
    )
    return snapshot
