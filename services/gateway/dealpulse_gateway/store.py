"""Read queries over the deal read models (``deals``, ``deal_risk``, ``deal_verdict``); the gateway writes none.

Every function takes a connection from ``tenant_transaction``: row-level security admits only that tenant's rows,
and each query also names the tenant so it uses the primary keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

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
