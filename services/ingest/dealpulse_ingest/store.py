"""Ingest's SQL: its tables ``deals`` (merged snapshots with history-derived fields), ``deal_events``,
``import_jobs`` and ``import_errors``, and what it reads of the gateway's ``tenants`` and ``tenant_settings``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from dealpulse_common import tenant_secrets
from dealpulse_common.secrets_at_rest import SecretBox
from dealpulse_common.settings import ServiceSettings
from dealpulse_common.stage_mapping import SETTINGS_KEY
from dealpulse_common.tenant_cache import Loader
from dealpulse_common.tenant_secrets import TenantKeys

RECORD_EVENT = """
INSERT INTO deal_events (tenant_id, event_id, deal_id, provider, outcome, changed_fields, source_modified_at,
                         received_at, changes)
VALUES ($1, $2, $3, $4, 'applied', $5, $6, $7, $8::jsonb)
ON CONFLICT (tenant_id, event_id) DO NOTHING
RETURNING event_id
"""

MARK_STALE = "UPDATE deal_events SET outcome = 'stale' WHERE tenant_id = $1 AND event_id = $2"

DEAL_COLUMNS = "snapshot, source_modified_at, history_state, deleted_at"

# The stored deal, locked until the transaction ends: its next change is folded in Python (dealpulse_common.history)
# and written back, so two changes of one deal are applied one after the other.
LOCK_DEAL = f"SELECT {DEAL_COLUMNS} FROM deals WHERE tenant_id = $1 AND deal_id = $2 FOR UPDATE"

INSERT_DEAL = """
INSERT INTO deals (tenant_id, deal_id, snapshot, source_modified_at, history_state, last_event_id)
VALUES ($1, $2, $3::jsonb, $4, $5::jsonb, $6)
ON CONFLICT (tenant_id, deal_id) DO NOTHING
RETURNING deal_id
"""

UPDATE_DEAL = """
UPDATE deals SET snapshot = $3::jsonb, source_modified_at = $4, history_state = $5::jsonb, last_event_id = $6,
                 updated_at = now()
WHERE tenant_id = $1 AND deal_id = $2
"""

# A deletion is ordered like any change: it applies only when newer than the stored snapshot, and a deal already
# deleted stays as it is (so a repeated deletion is stale too). The row and its snapshot stay for audit. A deletion
# of a deal never seen leaves a tombstone row, so a late create older than the deletion is refused as stale.
DELETE_DEAL = f"""
INSERT INTO deals AS d (tenant_id, deal_id, snapshot, source_modified_at, last_event_id, deleted_at)
VALUES ($1, $2, '{{}}'::jsonb, $3::timestamptz, $4, $3::timestamptz)
ON CONFLICT (tenant_id, deal_id) DO UPDATE SET
    deleted_at = EXCLUDED.deleted_at,
    source_modified_at = EXCLUDED.source_modified_at,
    last_event_id = EXCLUDED.last_event_id,
    updated_at = now()
WHERE d.source_modified_at < EXCLUDED.source_modified_at AND d.deleted_at IS NULL
RETURNING {DEAL_COLUMNS}
"""

# A restore undoes a deletion newer than it, bringing the deal back with the snapshot kept at its deletion. There
# is nothing to restore for a deal that is not deleted, or whose deletion was all DealPulse ever saw of it.
RESTORE_DEAL = f"""
UPDATE deals AS d SET deleted_at = NULL, source_modified_at = $3, last_event_id = $4, updated_at = now()
WHERE d.tenant_id = $1 AND d.deal_id = $2 AND d.deleted_at IS NOT NULL AND d.source_modified_at < $3
  AND d.snapshot <> '{{}}'::jsonb
RETURNING {DEAL_COLUMNS}
"""


# --- a group of changes at once (ingest's group commit): a handful of statements for the whole group ---------

KNOWN_EVENTS = "SELECT event_id FROM deal_events WHERE tenant_id = $1 AND event_id = ANY($2::text[])"

# Locked in one order (by id), so two groups sharing deals wait for each other instead of deadlocking.
LOCK_DEALS = f"""
SELECT deal_id, {DEAL_COLUMNS} FROM deals WHERE tenant_id = $1 AND deal_id = ANY($2::text[])
ORDER BY deal_id FOR UPDATE
"""

# In the group's order, so ``applied_seq`` (the order a replay folds) follows it.
RECORD_EVENTS = """
INSERT INTO deal_events (tenant_id, event_id, deal_id, provider, outcome, changed_fields, source_modified_at,
                         received_at, changes)
SELECT $1, e.event_id, e.deal_id, e.provider, e.outcome, e.changed_fields, e.source_modified_at, e.received_at,
       e.changes
FROM ROWS FROM (jsonb_to_recordset($2::jsonb) AS (event_id text, deal_id text, provider text, outcome text,
                changed_fields text[], source_modified_at timestamptz, received_at timestamptz, changes jsonb))
     WITH ORDINALITY AS e(event_id, deal_id, provider, outcome, changed_fields, source_modified_at, received_at,
                          changes, ord)
ORDER BY e.ord
ON CONFLICT (tenant_id, event_id) DO NOTHING
"""

DEAL_ROWS = """jsonb_to_recordset($2::jsonb) AS r(deal_id text, snapshot jsonb, source_modified_at timestamptz,
                                                history_state jsonb, last_event_id text)"""

INSERT_DEALS = f"""
INSERT INTO deals (tenant_id, deal_id, snapshot, source_modified_at, history_state, last_event_id)
SELECT $1, r.deal_id, r.snapshot, r.source_modified_at, r.history_state, r.last_event_id FROM {DEAL_ROWS}
ON CONFLICT (tenant_id, deal_id) DO NOTHING
"""

UPDATE_DEALS = f"""
UPDATE deals AS d SET snapshot = r.snapshot, source_modified_at = r.source_modified_at,
                      history_state = r.history_state, last_event_id = r.last_event_id, updated_at = now()
FROM {DEAL_ROWS}
WHERE d.tenant_id = $1 AND d.deal_id = r.deal_id
"""


async def known_events(conn: asyncpg.Connection, tenant_id: str, event_ids: Sequence[str]) -> set[str]:
    return {row["event_id"] for row in await conn.fetch(KNOWN_EVENTS, tenant_id, list(event_ids))}


async def lock_deals(conn: asyncpg.Connection, tenant_id: str, deal_ids: Sequence[str]) -> dict[str, asyncpg.Record]:
    """The stored deals among ``deal_ids`` (locked for this transaction), by id; a deal never seen is absent."""
    return {row["deal_id"]: row for row in await conn.fetch(LOCK_DEALS, tenant_id, sorted(set(deal_ids)))}


async def record_events(conn: asyncpg.Connection, tenant_id: str, events: Sequence[dict[str, Any]]) -> int:
    """Insert the group's deliveries (each with its ``outcome``); how many were new (fewer when another
    transaction recorded one meanwhile)."""
    return _count(await conn.execute(RECORD_EVENTS, tenant_id, list(events)))


async def insert_deals(conn: asyncpg.Connection, tenant_id: str, rows: Sequence[dict[str, Any]]) -> int:
    """How many were inserted (fewer when another transaction stored one of them first)."""
    return _count(await conn.execute(INSERT_DEALS, tenant_id, list(rows))) if rows else 0


async def update_deals(conn: asyncpg.Connection, tenant_id: str, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(UPDATE_DEALS, tenant_id, list(rows))


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


async def record_event(conn: asyncpg.Connection, *, tenant_id: str, event_id: str, deal_id: str, provider: str,
                       changed_fields: list[str], modified_at: datetime, received_at: datetime,
                       changes: dict[str, Any]) -> bool:
    """True when this delivery is new; False when the event id was seen before. The canonical ``changes`` are kept
    so the deal can be replayed (``deal_change_log``)."""
    return await conn.fetchval(RECORD_EVENT, tenant_id, event_id, deal_id, provider, changed_fields, modified_at,
                               received_at, changes) is not None


async def lock_deal(conn: asyncpg.Connection, tenant_id: str, deal_id: str) -> asyncpg.Record | None:
    """The stored deal (locked for this transaction), or None when DealPulse has never seen it."""
    row: asyncpg.Record | None = await conn.fetchrow(LOCK_DEAL, tenant_id, deal_id)
    return row


async def insert_deal(conn: asyncpg.Connection, *, tenant_id: str, deal_id: str, snapshot: dict[str, Any],
                      modified_at: datetime, history_state: dict[str, Any], event_id: str) -> bool:
    """False when another transaction stored the deal first (lock it and fold again)."""
    return await conn.fetchval(INSERT_DEAL, tenant_id, deal_id, snapshot, modified_at, history_state,
                               event_id) is not None


async def update_deal(conn: asyncpg.Connection, *, tenant_id: str, deal_id: str, snapshot: dict[str, Any],
                      modified_at: datetime, history_state: dict[str, Any], event_id: str) -> None:
    await conn.execute(UPDATE_DEAL, tenant_id, deal_id, snapshot, modified_at, history_state, event_id)


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


# Every applied change of the tenant's deals, deal by deal in the order it was applied: what a replay folds.
CHANGE_LOG = """
SELECT deal_id, changes, changed_fields, source_modified_at FROM deal_events
WHERE tenant_id = $1 AND outcome = 'applied'
ORDER BY deal_id, applied_seq
"""


async def deal_change_log(conn: asyncpg.Connection, tenant_id: str) -> AsyncIterator[asyncpg.Record]:
    """The tenant's applied changes, read through a cursor 1,000 at a time. Needs an open transaction."""
    async for record in conn.cursor(CHANGE_LOG, tenant_id, prefetch=1000):
        yield record


# --- what ingest reads of the gateway's tables ------------------------------------------------------------


def tenant_keys_loader(settings: ServiceSettings) -> Loader[TenantKeys | None]:
    """Reads a tenant's status and opened secrets (``dealpulse_common.tenant_secrets``) with the configured keys."""
    box = SecretBox(settings.secrets_keys)

    async def load(conn: asyncpg.Connection, tenant_id: str) -> TenantKeys | None:
        return await tenant_secrets.tenant_keys(conn, box, tenant_id)

    return load


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
