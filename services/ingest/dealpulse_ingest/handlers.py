"""Ingest's pure rules: a change's identity and outcome, what it changed, and the event that announces it.

No I/O here; ``ingestor.py`` stores and publishes with these.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from dealpulse_common.deal import CanonicalDeal
from dealpulse_common.events import DealChanged, DealChangedData
from dealpulse_common.history import HistoryState, apply_change, history_as_of
from dealpulse_common.tenant_secrets import CONNECTOR_SECRETS, TenantKeys

SOURCE = "dealpulse/ingest"
DELETED_FIELDS = ["deleted"]
RESTORED_FIELDS = ["restored"]
# A ``deals`` row as the store returns it (snapshot, source_modified_at, history_state).
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


def is_stale(stored: DealRow | None, change: IncomingChange) -> bool:
    """A change older than the stored snapshot (a late or replayed delivery), or to a deleted deal, is not applied.
    Equal times apply: CRMs stamp several changes of one deal with the same millisecond (HubSpot property events,
    one request each); each is a distinct delivery (deal events dedupe true repeats by id), so none may be dropped."""
    if stored is None:
        return False
    return stored["deleted_at"] is not None or stored["source_modified_at"] > change.modified_at


def folded(stored: DealRow | None, change: IncomingChange) -> dict[str, Any]:
    """The deal row after the change: snapshot and history state folded by ``dealpulse_common.history``."""
    before = stored["snapshot"] if stored is not None else None
    state = HistoryState.from_json(stored["history_state"] if stored is not None else None)
    snapshot, state = apply_change(before, state, change.changes, change.modified_at)
    return {"snapshot": snapshot, "source_modified_at": change.modified_at, "history_state": state.to_json()}


def snapshot_to_deal(tenant_id: str, deal_id: str, row: DealRow) -> CanonicalDeal:
    """The canonical deal of a stored row, with its history as known at its last change."""
    modified_at: datetime = row["source_modified_at"]
    snapshot = CanonicalDeal.model_validate(
        {**row["snapshot"], "tenant_id": tenant_id, "deal_id": deal_id, "source_modified_at": modified_at}
    )
    snapshot.history = history_as_of(HistoryState.from_json(row["history_state"]), row["snapshot"], modified_at)
    return snapshot


def accepted_secrets(keys: TenantKeys | None, provider: str, now: datetime) -> list[str]:
    """The secrets a tenant's delivery through ``provider`` may prove itself with, the one rule for every webhook:
    the connector's own secret when the tenant admin stored one (``PUT /v1/admin/connectors/{crm}``: HubSpot's app
    secret, the Salesforce token, the Pipedrive password), else the tenant's webhook secret and, while a rotation's
    overlap lasts, the one it replaced. Empty for an unknown tenant."""
    if keys is None:
        return []
    own = CONNECTOR_SECRETS.get(provider, ())
    stored = [secret for key in own if (secret := keys.connector_secret(provider, key))]
    return stored or keys.webhook_secrets(now)
