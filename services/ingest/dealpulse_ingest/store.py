"""Ingest's tables: ``deals`` (merged snapshots with history-derived fields) and ``deal_events``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

RECORD_EVENT = """
INSERT INTO deal_events (tenant_id, event_id, deal_id, provider, outcome, changed_fields, source_modified_at,
                         received_at)
VALUES ($1, $2, $3, $4, 'applied', $5, $6, $7)
ON CONFLICT (tenant_id, event_id) DO NOTHING
RETURNING event_id
"""

MARK_STALE = "UPDATE deal_events SET outcome = 'stale' WHERE tenant_id = $1 AND event_id = $2"

# One statement merges the change into the stored snapshot, keeps the history-derived fields, and does nothing
# when the stored snapshot is already newer (a late or replayed delivery).
MERGE_CHANGE = """
INSERT INTO deals AS d (tenant_id, deal_id, snapshot, source_modified_at, stage_entered_at, activity_at,
                        last_event_id)
VALUES ($1, $2, $3::jsonb, $4::timestamptz,
        CASE WHEN $3::jsonb ? 'stage' THEN $4::timestamptz END,
        CASE WHEN $3::jsonb->>'last_activity_at' IS NOT NULL
             THEN ARRAY[($3::jsonb->>'last_activity_at')::timestamptz] ELSE '{}' END,
        $5)
ON CONFLICT (tenant_id, deal_id) DO UPDATE SET
    snapshot = d.snapshot || EXCLUDED.snapshot || jsonb_build_object('qualification',
        COALESCE(d.snapshot->'qualification', '{}'::jsonb)
        || COALESCE(EXCLUDED.snapshot->'qualification', '{}'::jsonb)),
    stage_entered_at = CASE
        WHEN EXCLUDED.snapshot ? 'stage' AND EXCLUDED.snapshot->>'stage' IS DISTINCT FROM d.snapshot->>'stage'
        THEN EXCLUDED.source_modified_at ELSE d.stage_entered_at END,
    close_date_push_count = d.close_date_push_count + ((
        (EXCLUDED.snapshot->>'expected_close_date')::date > (d.snapshot->>'expected_close_date')::date
    ) IS TRUE)::int,
    amount_change_count = d.amount_change_count + ((
        EXCLUDED.snapshot ? 'amount'
        AND (EXCLUDED.snapshot->>'amount')::numeric IS DISTINCT FROM (d.snapshot->>'amount')::numeric
    ) IS TRUE)::int,
    activity_at = CASE
        WHEN (EXCLUDED.snapshot->>'last_activity_at')::timestamptz
             > COALESCE((d.snapshot->>'last_activity_at')::timestamptz, '-infinity')
        THEN ARRAY(SELECT a FROM unnest(d.activity_at || (EXCLUDED.snapshot->>'last_activity_at')::timestamptz) a
                   WHERE a > EXCLUDED.source_modified_at - interval '30 days')
        ELSE d.activity_at END,
    source_modified_at = EXCLUDED.source_modified_at,
    last_event_id = EXCLUDED.last_event_id,
    updated_at = now()
-- <=, not <: CRMs stamp several changes of one deal with the same millisecond (HubSpot property events, one
-- request each); each is a distinct delivery (deal_events dedupes true repeats by id), so none may be dropped.
WHERE d.source_modified_at <= EXCLUDED.source_modified_at AND d.deleted_at IS NULL
RETURNING d.snapshot, d.source_modified_at, d.stage_entered_at, d.close_date_push_count, d.amount_change_count,
          d.activity_at
"""


# A deletion is ordered like any change: it applies only when newer than the stored snapshot, and a deal already
# deleted stays as it is (so a repeated deletion is stale too). The row and its snapshot stay for audit. A deletion
# of a deal never seen leaves a tombstone row, so a late create older than the deletion is refused as stale.
DELETE_DEAL = """
INSERT INTO deals AS d (tenant_id, deal_id, snapshot, source_modified_at, last_event_id, deleted_at)
VALUES ($1, $2, '{}'::jsonb, $3::timestamptz, $4, $3::timestamptz)
ON CONFLICT (tenant_id, deal_id) DO UPDATE SET
    deleted_at = EXCLUDED.deleted_at,
    source_modified_at = EXCLUDED.source_modified_at,
    last_event_id = EXCLUDED.last_event_id,
    updated_at = now()
WHERE d.source_modified_at < EXCLUDED.source_modified_at AND d.deleted_at IS NULL
RETURNING d.snapshot, d.source_modified_at, d.stage_entered_at, d.close_date_push_count, d.amount_change_count,
          d.activity_at
"""

# A restore undoes a deletion newer than it, bringing the deal back with the snapshot kept at its deletion. There
# is nothing to restore for a deal that is not deleted, or whose deletion was all DealPulse ever saw of it.
RESTORE_DEAL = """
UPDATE deals AS d SET deleted_at = NULL, source_modified_at = $3, last_event_id = $4, updated_at = now()
WHERE d.tenant_id = $1 AND d.deal_id = $2 AND d.deleted_at IS NOT NULL AND d.source_modified_at < $3
  AND d.snapshot <> '{}'::jsonb
RETURNING d.snapshot, d.source_modified_at, d.stage_entered_at, d.close_date_push_count, d.amount_change_count,
          d.activity_at
"""


async def webhook_secret(conn: asyncpg.Connection, tenant_id: str) -> str | None:
    secret: str | None = await conn.fetchval("SELECT webhook_secret FROM tenants WHERE tenant_id = $1", tenant_id)
    return secret


async def record_event(conn: asyncpg.Connection, *, tenant_id: str, event_id: str, deal_id: str, provider: str,
                       changed_fields: list[str], modified_at: datetime, received_at: datetime) -> bool:
    """True when this delivery is new; False when the event id was seen before."""
    return await conn.fetchval(RECORD_EVENT, tenant_id, event_id, deal_id, provider, changed_fields, modified_at,
                               received_at) is not None


async def merge_change(conn: asyncpg.Connection, *, tenant_id: str, deal_id: str, changes: dict[str, Any],
                       modified_at: datetime, event_id: str) -> asyncpg.Record | None:
    """The merged row, or None when the change is older than the stored snapshot."""
    row: asyncpg.Record | None = await conn.fetchrow(MERGE_CHANGE, tenant_id, deal_id, changes, modified_at, event_id)
    return row


async def delete_deal(conn: asyncpg.Connection, *, tenant_id: str, deal_id: str, modified_at: datetime,
                      event_id: str) -> asyncpg.Record | None:
    """The deleted deal's last row, or None when the deletion is stale (older, or the deal is already deleted)."""
    row: asyncpg.Record | None = await conn.fetchrow(DELETE_DEAL, tenant_id, deal_id, modified_at, event_id)
    return row


async def restore_deal(conn: asyncpg.Connection, *, tenant_id: str, deal_id: str, modified_at: datetime,
                       event_id: str) -> asyncpg.Record | None:
    """The restored deal's row, or None when there is nothing newer to restore (stale)."""
    row: asyncpg.Record | None = await conn.fetchrow(RESTORE_DEAL, tenant_id, deal_id, modified_at, event_id)
    return row


async def mark_stale(conn: asyncpg.Connection, tenant_id: str, event_id: str) -> None:
    await conn.execute(MARK_STALE, tenant_id, event_id)
