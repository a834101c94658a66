"""Ingest's SQL: its tables ``deals`` (merged snapshots with history-derived fields), ``deal_events``,
``import_jobs`` and ``import_errors``, and what it reads of the gateway's ``tenants`` and ``tenant_settings``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from dealpulse_common.stage_mapping import SETTINGS_KEY

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


# --- what ingest reads of the gateway's tables ------------------------------------------------------------


async def webhook_secret(conn: asyncpg.Connection, tenant_id: str) -> str | None:
    secret: str | None = await conn.fetchval("SELECT webhook_secret FROM tenants WHERE tenant_id = $1", tenant_id)
    return secret


async def tenant_settings(conn: asyncpg.Connection, tenant_id: str) -> Any:
    """The tenant's whole settings document as stored (None when it has none)."""
    return await conn.fetchval("SELECT settings FROM tenant_settings WHERE tenant_id = $1", tenant_id)


async def stage_mapping_settings(conn: asyncpg.Connection, tenant_id: str) -> Any:
    """The stored stage mapping (``StageMappingSettings`` when the gateway wrote it), or None."""
    return await conn.fetchval(f"SELECT settings->'{SETTINGS_KEY}' FROM tenant_settings WHERE tenant_id = $1",
                               tenant_id)


# --- import jobs ------------------------------------------------------------------------------------------

# A job whose runner stopped beating (its process restarted) is failed on its next read, saying how far it got.
EXPIRE_IMPORT_JOB = """
UPDATE import_jobs SET status = 'failed', finished_at = now(),
       failure = 'interrupted: the ingest process running it stopped (after ' || processed || ' rows)' || $4
WHERE tenant_id = $1 AND job_id = $2 AND status IN ('queued', 'running')
  AND heartbeat_at < now() - make_interval(secs => $3)
"""

SAVE_IMPORT_PROGRESS = """
UPDATE import_jobs SET processed = $3, accepted = $4, duplicates = $5, stale = $6, rejected = $7, heartbeat_at = now()
WHERE tenant_id = $1 AND job_id = $2
"""


async def insert_import_job(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID, *, file_name: str | None,
                            file_format: str, mapping: dict[str, str], created_by: str,
                            total_rows: int | None) -> None:
    await conn.execute(
        "INSERT INTO import_jobs (tenant_id, job_id, status, file_name, format, mapping, created_by, total_rows)"
        " VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7)",
        tenant_id, job_id, file_name, file_format, mapping, created_by, total_rows)


async def start_import_job(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID,
                           total_rows: int | None) -> None:
    """Running from now, with the row count the reader found (kept as submitted when it cannot tell)."""
    await conn.execute(
        "UPDATE import_jobs SET status = 'running', started_at = now(), heartbeat_at = now(),"
        " total_rows = COALESCE($3, total_rows) WHERE tenant_id = $1 AND job_id = $2", tenant_id, job_id, total_rows)


async def finish_import_job(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID) -> None:
    await conn.execute("UPDATE import_jobs SET status = 'done', finished_at = now() WHERE tenant_id = $1 AND"
                       " job_id = $2", tenant_id, job_id)


async def fail_import_job(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID, failure: str) -> None:
    await conn.execute("UPDATE import_jobs SET status = 'failed', finished_at = now(), failure = $3"
                       " WHERE tenant_id = $1 AND job_id = $2", tenant_id, job_id, failure)


async def save_import_progress(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID, *,
                               errors: Sequence[tuple[int, str, str]], processed: int, accepted: int,
                               duplicates: int, stale: int, rejected: int) -> None:
    """New row errors (row, field, reason), the counters and the heartbeat."""
    if errors:
        await conn.executemany(
            "INSERT INTO import_errors (tenant_id, job_id, row_number, field, reason) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT DO NOTHING", [(tenant_id, job_id, row, field, reason) for row, field, reason in errors])
    await conn.execute(SAVE_IMPORT_PROGRESS, tenant_id, job_id, processed, accepted, duplicates, stale, rejected)


async def expire_import_job(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID, stale_after_s: float,
                            hint: str) -> None:
    await conn.execute(EXPIRE_IMPORT_JOB, tenant_id, job_id, stale_after_s, hint)


async def import_job(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM import_jobs WHERE tenant_id = $1 AND job_id = $2", tenant_id, job_id)
    return row


async def import_errors(conn: asyncpg.Connection, tenant_id: str, job_id: uuid.UUID,
                        limit: int) -> list[asyncpg.Record]:
    """The job's first row errors, by row and field."""
    return list(await conn.fetch(
        "SELECT row_number, field, reason FROM import_errors WHERE tenant_id = $1 AND job_id = $2"
        " ORDER BY row_number, field LIMIT $3", tenant_id, job_id, limit))
