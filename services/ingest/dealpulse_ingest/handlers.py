"""Ingest's pure rules: a change's identity and outcome, what it changed, and the event that announces it.

No I/O here; ``ingestor.py`` stores and publishes with these.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from dealpulse_common.deal import CanonicalDeal, DealHistory
from dealpulse_common.events import DealChanged, DealChangedData

SOURCE = "dealpulse/ingest"
DELETED_FIELDS = ["deleted"]
RESTORED_FIELDS = ["restored"]
# A ``deals`` row as the store returns it (snapshot, source_modified_at and the history columns).
DealRow = Mapping[str, Any]


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
    restored: bool = False  # the deletion is undone: the deal re-enters with the snapshot kept at its deletion


def event_id_for(tenant_id: str, explicit: str | None, body: bytes) -> str:
    """The CRM's own id when it sends one, else a digest of the delivery so a re-send is recognised."""
    if explicit:
        return explicit
    return "sha256:" + hashlib.sha256(tenant_id.encode() + b"\0" + body).hexdigest()


def deal_changed(change: IncomingChange, row: DealRow) -> DealChanged:
    """The event announcing an applied change: the merged snapshot with its history, under a stable id."""
    deal = snapshot_to_deal(change.tenant_id, change.deal_id, row)
    data = DealChangedData(deal=deal, changed_fields=changed_fields(change), provider=change.provider,
                           source_event_id=change.event_id, received_at=change.received_at, deleted=change.deleted)
    return DealChanged.create(source=SOURCE, tenant_id=change.tenant_id, deal_id=change.deal_id, data=data,
                              id=f"{change.tenant_id}:{change.event_id}", traceparent=change.traceparent)


def changed_fields(change: IncomingChange) -> list[str]:
    """What a change changed, as recorded and published: a deletion or a restore says only that."""
    if change.deleted:
        return list(DELETED_FIELDS)
    if change.restored:
        return list(RESTORED_FIELDS)
    return sorted(change.changes)


def snapshot_to_deal(tenant_id: str, deal_id: str, row: DealRow) -> CanonicalDeal:
    """The canonical deal of a stored row, with the history-derived fields computed as of its last change."""
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
