"""Every query of the gateway: reads of the deal read models (``deals``, ``deal_risk``, ``deal_verdict``), which it
never writes, and the tenant settings it owns (the stage mapping, with its ``audit_log`` row).

Every function takes a connection from ``tenant_connection``: row-level security admits only that tenant's rows,
and each query also names the tenant so it uses the primary keys.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from dealpulse_common.db import DATABASE_UNAVAILABLE, tenant_transaction
from dealpulse_common.service import ServiceUnavailable
from dealpulse_common.stage_mapping import SETTINGS_KEY

SortColumn = Literal["risk_score", "amount"]
SortOrder = Literal["asc", "desc"]

# ORDER BY is assembled only from these fragments, never from request text.
_SORT_COLUMNS: dict[str, str] = {"risk_score": "r.risk_score", "amount": "r.amount"}
_SORT_ORDERS: dict[str, str] = {"asc": "ASC", "desc": "DESC"}

# A deleted deal is no longer pipeline. The scorer drops its deal_risk row when it takes the tombstone; this check
# hides it from the moment ingest stored the deletion.
_OPEN_AT_RISK = """
    r.tenant_id = $1 AND NOT r.is_closed AND r.risk_category = ANY($2::text[])
    AND ($3::text IS NULL OR r.owner_id = $3)
    AND NOT EXISTS (SELECT 1 FROM deals d WHERE d.tenant_id = r.tenant_id AND d.deal_id = r.deal_id
                    AND d.deleted_at IS NOT NULL)
"""


@asynccontextmanager
async def tenant_connection(pool: asyncpg.Pool, tenant_id: str,
                            retry_after_s: int) -> AsyncIterator[asyncpg.Connection]:
    """The tenant's transaction; an unreachable database is ServiceUnavailable (503 with Retry-After)."""
    try:
        async with tenant_transaction(pool, tenant_id) as conn:
            yield conn
    except DATABASE_UNAVAILABLE as exc:
        raise ServiceUnavailable("database unavailable; retry later", retry_after_s) from exc


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


async def high_risk_deals(
    conn: asyncpg.Connection, tenant_id: str, categories: Sequence[str], owner_id: str | None,
    sort_by: SortColumn, order: SortOrder, limit: int, offset: int,
) -> list[asyncpg.Record]:
    direction = _SORT_ORDERS[order]
    # deal_id breaks ties so pages never overlap or skip between requests.
    order_by = f"{_SORT_COLUMNS[sort_by]} {direction} NULLS LAST, r.deal_id {direction}"
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        SELECT r.deal_id, r.payload->'deal'->>'name' AS name, r.payload->'deal'->>'account_name' AS account_name,
               r.amount, r.risk_score, r.risk_category, r.win_probability, r.owner_id,
               r.payload->'deal'->>'owner_name' AS owner_name, r.payload->'deal'->>'stage' AS stage, r.scored_at,
               r.payload->>'model_version' AS model_version, r.payload->'factors'->0 AS top_factor,
               r.payload->'since_previous' AS since_previous
        FROM deal_risk r
        WHERE {_OPEN_AT_RISK}
        ORDER BY {order_by}
        LIMIT $4 OFFSET $5
        """,
        tenant_id, list(categories), owner_id, limit, offset,
    )
    return rows


@dataclass(frozen=True)
class CategoryTotals:
    deals: int
    amount: float
    risk_score_sum: int


async def high_risk_totals(
    conn: asyncpg.Connection, tenant_id: str, categories: Sequence[str], owner_id: str | None
) -> dict[str, CategoryTotals]:
    """Per risk category, totals over every matching deal (not just one page)."""
    rows = await conn.fetch(
        f"""
        SELECT r.risk_category, count(*) AS deals, coalesce(sum(r.amount), 0) AS amount,
               sum(r.risk_score) AS risk_score_sum
        FROM deal_risk r
        WHERE {_OPEN_AT_RISK}
        GROUP BY r.risk_category
        """,
        tenant_id, list(categories), owner_id,
    )
    return {row["risk_category"]: CategoryTotals(row["deals"], float(row["amount"]), int(row["risk_score_sum"]))
            for row in rows}


# ---------------------------------------------------------------- tenant settings: the stage mapping

_READ_STAGE_MAPPING = f"""
SELECT settings->'{SETTINGS_KEY}' AS mapping, version, updated_at FROM tenant_settings WHERE tenant_id = $1
"""

# Replaces only one key ($2: the stage mapping, the alert channels...); other settings stay. The version counts
# every edit.
_WRITE_SETTING = """
INSERT INTO tenant_settings AS s (tenant_id, settings) VALUES ($1, jsonb_build_object($2::text, $3::jsonb))
ON CONFLICT (tenant_id) DO UPDATE SET
    settings = s.settings || jsonb_build_object($2::text, $3::jsonb),
    version = s.version + 1,
    updated_at = now()
RETURNING version, updated_at
"""


async def write_tenant_setting(conn: asyncpg.Connection, tenant_id: str, key: str,
                               value: dict[str, Any]) -> tuple[int, datetime]:
    """Replace one key of the tenant's settings; returns the new settings version and when."""
    row = await conn.fetchrow(_WRITE_SETTING, tenant_id, key, value)
    return row["version"], row["updated_at"]


@dataclass(frozen=True)
class StoredStageMapping:
    mapping: dict[str, Any] | None  # as stored; None before the first edit
    version: int  # tenant_settings version (every settings edit bumps it); 0 before any
    updated_at: datetime | None


async def stage_mapping(conn: asyncpg.Connection, tenant_id: str) -> StoredStageMapping:
    row = await conn.fetchrow(_READ_STAGE_MAPPING, tenant_id)
    if row is None:
        return StoredStageMapping(None, 0, None)
    return StoredStageMapping(row["mapping"], row["version"], row["updated_at"])


async def write_stage_mapping(conn: asyncpg.Connection, tenant_id: str,
                              mapping: dict[str, Any]) -> StoredStageMapping:
    """Replace the tenant's stage mapping (its other settings stay) and bump the settings version."""
    version, updated_at = await write_tenant_setting(conn, tenant_id, SETTINGS_KEY, mapping)
    return StoredStageMapping(mapping, version, updated_at)


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
                      detail: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO audit_log (tenant_id, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5::jsonb)",
        tenant_id, actor, action, subject, detail,
    )
