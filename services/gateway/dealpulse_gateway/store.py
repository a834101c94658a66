"""The gateway's queries of one deal (its snapshot, latest score and verdict, its history of scores, verdicts and
overrides — read models it never writes) and of what it owns: tenant settings and the ``audit_log``. The analytics'
aggregates are in ``analytics_store``, alert set-up and feedback in ``alert_store``.

Every function takes a connection from ``tenant_connection``: row-level security admits only that tenant's rows,
and each query also names the tenant so it uses the primary keys.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from starlette.requests import HTTPConnection

from dealpulse_common.db import DATABASE_UNAVAILABLE, tenant_transaction
from dealpulse_common.service import ServiceUnavailable


@asynccontextmanager
async def tenant_connection(pool: asyncpg.Pool, tenant_id: str,
                            retry_after_s: int) -> AsyncIterator[asyncpg.Connection]:
    """The tenant's transaction; an unreachable database is ServiceUnavailable (503 with Retry-After)."""
    try:
        async with tenant_transaction(pool, tenant_id) as conn:
            yield conn
    except DATABASE_UNAVAILABLE as exc:
        raise ServiceUnavailable("database unavailable; retry later", retry_after_s) from exc


def tenant_transaction_of(connection: HTTPConnection,
                          tenant_id: str) -> AbstractAsyncContextManager[asyncpg.Connection]:
    """``tenant_connection`` on the app's pool, with its Retry-After: what every route and socket opens."""
    state = connection.app.state
    return tenant_connection(state.pool, tenant_id, state.settings.retry_after_s)


@dataclass(frozen=True)
class DealRecord:
    snapshot: dict[str, Any]
    created_at: datetime
    deleted_at: datetime | None
    score: dict[str, Any] | None
    scored_at: datetime | None
    verdict: dict[str, Any] | None
    decided_at: datetime | None


async def deal_with_latest(conn: asyncpg.Connection, tenant_id: str, deal_id: str) -> DealRecord | None:
    """The deal's snapshot with its latest score (without the deal copy it embeds) and latest verdict."""
    row = await conn.fetchrow(
        """
        SELECT d.snapshot, d.created_at, d.deleted_at,
               r.payload - 'deal' AS score, r.scored_at,
               v.payload AS verdict, v.decided_at
        FROM deals d
        LEFT JOIN deal_risk r ON r.tenant_id = d.tenant_id AND r.deal_id = d.deal_id
        LEFT JOIN deal_verdict v ON v.tenant_id = d.tenant_id AND v.deal_id = d.deal_id
        WHERE d.tenant_id = $1 AND d.deal_id = $2
        """,
        tenant_id, deal_id,
    )
    return DealRecord(**dict(row)) if row else None


# ---------------------------------------------------------------- tenant settings

# Replaces only one key ($2: the stage mapping, the alert channels...); other settings stay. Each key counts its own
# edits in section_versions (the table's version still counts them all).
_WRITE_SETTING = """
INSERT INTO tenant_settings AS s (tenant_id, settings, section_versions)
VALUES ($1, jsonb_build_object($2::text, $3::jsonb), jsonb_build_object($2::text, 1))
ON CONFLICT (tenant_id) DO UPDATE SET
    settings = s.settings || jsonb_build_object($2::text, $3::jsonb),
    section_versions = s.section_versions
        || jsonb_build_object($2::text, coalesce((s.section_versions->>$2::text)::int, 0) + 1),
    version = s.version + 1,
    updated_at = now()
RETURNING (section_versions->>$2::text)::int AS version, updated_at
"""


@dataclass(frozen=True)
class StoredSetting:
    value: dict[str, Any] | None  # as stored; None before the first edit
    version: int  # this key's version (each edit of it bumps it); 0 before any
    updated_at: datetime | None  # of the tenant's settings as a whole


async def tenant_setting(conn: asyncpg.Connection, tenant_id: str, key: str) -> StoredSetting:
    """One key of the tenant's settings (the stage mapping, the reporting currency...)."""
    row = await conn.fetchrow(
        "SELECT settings->$2::text AS value, coalesce((section_versions->>$2::text)::int, 0) AS version, updated_at "
        "FROM tenant_settings WHERE tenant_id = $1",
        tenant_id, key)
    if row is None:
        return StoredSetting(None, 0, None)
    return StoredSetting(row["value"], row["version"], row["updated_at"])


async def tenant_settings(conn: asyncpg.Connection, tenant_id: str, keys: Sequence[str]) -> dict[str, StoredSetting]:
    """Several keys of the tenant's settings in one read."""
    row = await conn.fetchrow(
        "SELECT settings, section_versions, updated_at FROM tenant_settings WHERE tenant_id = $1", tenant_id)
    if row is None:
        return {key: StoredSetting(None, 0, None) for key in keys}
    return {key: StoredSetting(row["settings"].get(key), int(row["section_versions"].get(key, 0)), row["updated_at"])
            for key in keys}


async def write_tenant_setting(conn: asyncpg.Connection, tenant_id: str, key: str,
                               value: dict[str, Any]) -> StoredSetting:
    """Replace one key of the tenant's settings and bump that key's version."""
    row = await conn.fetchrow(_WRITE_SETTING, tenant_id, key, value)
    return StoredSetting(value, row["version"], row["updated_at"])


async def unmapped_stages(conn: asyncpg.Connection, tenant_id: str, limit: int) -> list[tuple[str, int]]:
    """Raw stage names that matched nothing, with how many deals carry each, most first. Deleted deals are no longer
    pipeline."""
    rows = await conn.fetch(
        """
        SELECT snapshot->>'crm_stage' AS crm_stage, count(*) AS deals FROM deals
        WHERE tenant_id = $1 AND deleted_at IS NULL AND (snapshot->>'stage_unmapped')::boolean
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $2
        """,
        tenant_id, limit,
    )
    return [(row["crm_stage"], row["deals"]) for row in rows]


async def write_audit(conn: asyncpg.Connection, tenant_id: str, actor: str, action: str, subject: str,
                      detail: dict[str, Any]) -> int:
    """An audit_log row (who, what, on what, before/after in ``detail``; when is the row's time); its id."""
    audit_id: int = await conn.fetchval(
        "INSERT INTO audit_log (tenant_id, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5::jsonb) "
        "RETURNING audit_id",
        tenant_id, actor, action, subject, detail,
    )
    return audit_id


@dataclass(frozen=True)
class AuditFilter:
    """Which audit rows a read covers; None means "no condition"."""

    actions: Sequence[str] | None = None
    actors: Sequence[str] | None = None
    subjects: Sequence[str] | None = None
    since: datetime | None = None  # at or after
    until: datetime | None = None  # before


_AUDIT_WHERE = """
WHERE tenant_id = $1 AND ($2::text[] IS NULL OR action = ANY($2)) AND ($3::text[] IS NULL OR actor = ANY($3))
  AND ($4::text[] IS NULL OR subject = ANY($4)) AND ($5::timestamptz IS NULL OR at >= $5)
  AND ($6::timestamptz IS NULL OR at < $6)
"""


async def audit_page(conn: asyncpg.Connection, tenant_id: str, audit_filter: AuditFilter, limit: int,
                     offset: int) -> tuple[list[asyncpg.Record], int]:
    """The audit rows ``audit_filter`` selects, newest first, one page of them, and how many there are in all."""
    f = audit_filter
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT audit_id, at, actor, action, subject, detail, count(*) OVER () AS total_count FROM audit_log "
        f"{_AUDIT_WHERE} ORDER BY at DESC, audit_id DESC LIMIT $7 OFFSET $8",
        tenant_id, f.actions, f.actors, f.subjects, f.since, f.until, limit, offset,
    )
    if rows:
        return rows, int(rows[0]["total_count"])
    # A page past the end still says how many there are.
    total = 0 if offset == 0 else await conn.fetchval(
        f"SELECT count(*) FROM audit_log {_AUDIT_WHERE}", tenant_id, f.actions, f.actors, f.subjects, f.since, f.until,
    )
    return rows, int(total)


# ---------------------------------------------------------------- a deal's history (scores, verdicts, overrides)


async def score_history(conn: asyncpg.Connection, tenant_id: str, deal_id: str, limit: int) -> list[asyncpg.Record]:
    """The deal's newest ``limit`` scores, newest first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT scored_at AS at, risk_score, risk_category, win_probability, model_version,
               payload->'since_previous' AS since_previous, payload->>'provider' AS provider, source_event_id
        FROM risk_scores WHERE tenant_id = $1 AND deal_id = $2
        ORDER BY scored_at DESC, source_event_id DESC LIMIT $3
        """,
        tenant_id, deal_id, limit,
    )
    return rows


async def verdict_history(conn: asyncpg.Connection, tenant_id: str, deal_id: str,
                          limit: int) -> list[asyncpg.Record]:
    """The deal's newest ``limit`` verdicts, newest first, each with the model of the score it rests on (the deal's
    latest score when it was decided)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT v.decided_at AS at, v.ai_forecast, v.ai_verdict, v.commit_admission,
               coalesce(v.payload->'reasons', '[]'::jsonb) AS reasons,
               coalesce((v.payload->>'changed')::boolean, true) AS changed,
               v.payload->>'thresholds_version' AS thresholds_version, s.model_version,
               v.payload->'override' AS override, v.payload->>'provider' AS provider
        FROM verdicts v
        LEFT JOIN LATERAL (
            SELECT model_version FROM risk_scores s
            WHERE s.tenant_id = v.tenant_id AND s.deal_id = v.deal_id AND s.scored_at <= v.decided_at
            ORDER BY s.scored_at DESC LIMIT 1
        ) s ON true
        WHERE v.tenant_id = $1 AND v.deal_id = $2
        ORDER BY v.decided_at DESC, v.source_event_id DESC LIMIT $3
        """,
        tenant_id, deal_id, limit,
    )
    return rows


async def override_history(conn: asyncpg.Connection, tenant_id: str, deal_id: str,
                           limit: int) -> list[asyncpg.Record]:
    """The deal's newest ``limit`` override events (set and clear, as verdict recorded them), newest first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT at, action, verdict AS forecast_category, reason, overridden_by, ai_verdict,
               previous_verdict AS previous
        FROM verdict_overrides WHERE tenant_id = $1 AND deal_id = $2
        ORDER BY at DESC, override_id DESC LIMIT $3
        """,
        tenant_id, deal_id, limit,
    )
    return rows
