"""The analytics' queries: the open pipeline (cells to fold, pages of deals), deals closed in time windows, the
daily snapshots trends compare with, and teams. Reads the scorer's ``deal_risk`` and verdict's ``deal_verdict``
(their generated columns, 008), never writes them; writes only its own ``pipeline_daily`` snapshots.

What an *open deal* is has one home here (``_OPEN``): scored, not closed, not deleted (also before the scorer took
the tombstone), and not pinned by its verdict to an outcome. A NULL eligibility (no verdict yet) does not open a
closed deal: ``is_closed`` is never NULL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, Literal

import asyncpg

from dealpulse_gateway import store
from dealpulse_gateway.analytics import TOTALS_COLUMNS, Cell, ClosedCounts, Period, PipelineTotals
from dealpulse_gateway.money import SETTINGS_KEY as REPORTING_KEY
from dealpulse_gateway.money import ReportingSettings

ListSort = Literal["risk_score", "amount", "win_probability", "scored_at", "name", "expected_close_date"]
SortOrder = Literal["asc", "desc"]

# ORDER BY is assembled only from these fragments, never from request text.
_SORT_COLUMNS: dict[str, str] = {"risk_score": "r.risk_score", "amount": "r.amount",
                                 "win_probability": "r.win_probability", "scored_at": "r.scored_at",
                                 "name": "r.deal_name", "expected_close_date": "r.expected_close_date"}
_SORT_ORDERS: dict[str, str] = {"asc": "ASC", "desc": "DESC"}

_NOT_DELETED = """NOT EXISTS (SELECT 1 FROM deals d WHERE d.tenant_id = r.tenant_id AND d.deal_id = r.deal_id
                                   AND d.deleted_at IS NOT NULL)"""
_OPEN = f"r.tenant_id = $1 AND NOT r.is_closed AND v.predictive_eligible IS NOT FALSE AND {_NOT_DELETED}"
_JOIN_VERDICT = "deal_risk r LEFT JOIN deal_verdict v ON v.tenant_id = r.tenant_id AND v.deal_id = r.deal_id"
_CALLS = "r.forecast_category, v.ai_verdict, v.override_forecast AS override"
_NO_CALLS = "NULL::text AS forecast_category, NULL::text AS ai_verdict, NULL::text AS override"


@dataclass(frozen=True)
class DealFilter:
    """Which open deals a read covers; None means "no condition". ``owners`` is the visibility scope."""

    owners: Sequence[str] | None = None
    categories: Sequence[str] | None = None
    stages: Sequence[str] | None = None
    forecast_categories: Sequence[str] | None = None
    verdicts: Sequence[str] | None = None  # the call in force: the override, else the AI verdict
    currencies: Sequence[str] | None = None
    min_amount: float | None = None
    max_amount: float | None = None
    stale_before: datetime | None = None  # with ``stale``: scored before it (True) or since (False)
    stale: bool | None = None
    overridden: bool | None = None

    def owners_only(self) -> bool:
        """No condition but the owners (or none at all); ``stale_before`` is a condition only with ``stale``."""
        return all(getattr(self, f.name) is None for f in fields(self) if f.name not in ("owners", "stale_before"))


class _Where:
    """Conditions with their positional parameters; $1 is always the tenant."""

    def __init__(self, tenant_id: str, base: str) -> None:
        self.args: list[Any] = [tenant_id]
        self.parts = [base]

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, template: str, value: Any) -> None:
        if value is not None:
            self.parts.append(template.format(self.param(value)))

    def sql(self) -> str:
        return " AND ".join(self.parts)


def _open_where(tenant_id: str, f: DealFilter) -> _Where:
    where = _Where(tenant_id, _OPEN)
    where.add("r.owner_id = ANY({}::text[])", _listed(f.owners))
    where.add("r.risk_category = ANY({}::text[])", _listed(f.categories))
    where.add("r.stage = ANY({}::text[])", _listed(f.stages))
    where.add("r.forecast_category = ANY({}::text[])", _listed(f.forecast_categories))
    where.add("coalesce(v.override_forecast, v.ai_verdict) = ANY({}::text[])", _listed(f.verdicts))
    where.add("r.currency = ANY({}::text[])", _listed(f.currencies))
    where.add("r.amount >= {}", f.min_amount)
    where.add("r.amount <= {}", f.max_amount)
    if f.stale is not None and f.stale_before is not None:
        where.add("r.scored_at < {}" if f.stale else "r.scored_at >= {}", f.stale_before)
    if f.overridden is not None:
        where.parts.append("v.override_forecast IS NOT NULL" if f.overridden else "v.override_forecast IS NULL")
    return where


def _listed(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else list(values)


# ---------------------------------------------------------------- the open pipeline


async def open_cells(conn: asyncpg.Connection, tenant_id: str, deal_filter: DealFilter, recent_since: datetime,
                     by_owner: bool = False, forecasts: bool = True) -> list[Cell]:
    """The open deals grouped by every split a figure makes (``analytics.fold`` sums them); without ``forecasts``
    the rep's and the AI's calls are left out of the split (fewer cells when only the other figures are wanted)."""
    where = _open_where(tenant_id, deal_filter)
    recent = where.param(recent_since)
    owner = "coalesce(r.owner_id, '')" if by_owner else "''"
    calls = _CALLS if forecasts else _NO_CALLS
    rows = await conn.fetch(
        f"""
        SELECT {owner} AS owner_id, r.currency, r.risk_category, {calls}, v.commit_admission AS admission,
               r.scored_at >= {recent} AS recent,
               count(*) AS deals, coalesce(sum(r.amount), 0) AS amount,
               coalesce(sum(r.amount * r.win_probability), 0) AS risk_adjusted, sum(r.risk_score) AS risk_score_sum
        FROM {_JOIN_VERDICT}
        WHERE {where.sql()}
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        """,
        *where.args,
    )
    return [Cell(**dict(row)) for row in rows]


async def open_deals_page(conn: asyncpg.Connection, tenant_id: str, deal_filter: DealFilter, sort_by: ListSort,
                          order: SortOrder, limit: int, offset: int) -> list[asyncpg.Record]:
    """One page of open deals with their latest score and verdict.

    The page's deals are chosen on the narrow columns first and only then joined to their payloads: sorting every
    open deal with its payload attached spilled to disk (670 ms for the first page of 10,000 deals)."""
    where = _open_where(tenant_id, deal_filter)
    direction = _SORT_ORDERS[order]
    # deal_id breaks ties so pages never overlap or skip between requests.
    order_by = f"{_SORT_COLUMNS[sort_by]} {direction} NULLS LAST, r.deal_id {direction}"
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        WITH page AS (
            SELECT r.deal_id
            FROM {_JOIN_VERDICT}
            WHERE {where.sql()}
            ORDER BY {order_by}
            LIMIT {where.param(limit)} OFFSET {where.param(offset)}
        )
        SELECT r.deal_id, r.deal_name AS name, r.payload->'deal'->>'account_name' AS account_name, r.amount,
               r.currency, r.risk_score, r.risk_category, r.win_probability, r.owner_id, r.owner_name, r.stage,
               r.forecast_category, r.expected_close_date, r.scored_at, r.model_version,
               r.payload->'factors'->0 AS top_factor, r.payload->'since_previous' AS since_previous,
               v.ai_forecast, v.ai_verdict, v.commit_admission, v.decided_at, v.payload->'override' AS override
        FROM page JOIN deal_risk r ON r.tenant_id = $1 AND r.deal_id = page.deal_id
        LEFT JOIN deal_verdict v ON v.tenant_id = r.tenant_id AND v.deal_id = r.deal_id
        ORDER BY {order_by}
        """,
        *where.args,
    )
    return rows


async def pipeline_version(conn: asyncpg.Connection, tenant_id: str) -> tuple[int, int, int]:
    """What the open pipeline's figures depend on, as three numbers that change whenever it changes (012): the
    latest change on ``deal_risk`` and on ``deal_verdict``, and how many deals are deleted. Three index probes."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT coalesce(max(pipeline_change), 0) FROM deal_risk WHERE tenant_id = $1) AS scores,
               (SELECT coalesce(max(pipeline_change), 0) FROM deal_verdict WHERE tenant_id = $1) AS verdicts,
               (SELECT count(*) FROM deals WHERE tenant_id = $1 AND deleted_at IS NOT NULL) AS deleted
        """,
        tenant_id,
    )
    return row["scores"], row["verdicts"], row["deleted"]


# ---------------------------------------------------------------- deals closed in time windows


async def closed_counts(conn: asyncpg.Connection, tenant_id: str, owners: Sequence[str] | None,
                        windows: Sequence[Period], by_owner: bool = False) -> dict[str, list[ClosedCounts]]:
    """Per owner ("" unless ``by_owner``), the counts of each window, in the order given."""
    where = _Where(tenant_id, f"r.tenant_id = $1 AND r.is_closed AND {_NOT_DELETED}")
    starts, ends = where.param([w.start for w in windows]), where.param([w.end for w in windows])
    where.add("r.owner_id = ANY({}::text[])", _listed(owners))
    where.add("r.closed_at >= {}", min(w.start for w in windows))
    owner = "coalesce(r.owner_id, '')" if by_owner else "''"
    won_with_cycle = "r.is_won AND r.deal_created_at IS NOT NULL AND r.deal_created_at <= r.closed_at"
    rows = await conn.fetch(
        f"""
        SELECT {owner} AS owner_id, w.n AS window_number,
               count(*) FILTER (WHERE r.is_won) AS won, count(*) FILTER (WHERE r.is_won IS NOT TRUE) AS lost,
               coalesce(sum(extract(epoch FROM r.closed_at - r.deal_created_at) / 86400)
                        FILTER (WHERE {won_with_cycle}), 0)::float8 AS cycle_days_sum,
               count(*) FILTER (WHERE {won_with_cycle}) AS cycle_deals
        FROM deal_risk r
        JOIN unnest({starts}::timestamptz[], {ends}::timestamptz[]) WITH ORDINALITY AS w(starts, ends, n)
          ON r.closed_at >= w.starts AND r.closed_at < w.ends
        WHERE {where.sql()}
        GROUP BY 1, 2
        """,
        *where.args,
    )
    counts: dict[str, list[ClosedCounts]] = {}
    for row in rows:
        per_window = counts.setdefault(row["owner_id"], [ClosedCounts() for _ in windows])
        per_window[row["window_number"] - 1] = ClosedCounts(row["won"], row["lost"], row["cycle_days_sum"],
                                                            row["cycle_deals"])
    return counts


# ---------------------------------------------------------------- daily snapshots


async def snapshot_days(conn: asyncpg.Connection, tenant_id: str, since: date) -> list[date]:
    rows = await conn.fetch("SELECT day FROM pipeline_snapshot_days WHERE tenant_id = $1 AND day >= $2 ORDER BY day",
                            tenant_id, since)
    return [row["day"] for row in rows]


async def snapshot_totals(conn: asyncpg.Connection, tenant_id: str, days: Sequence[date],
                          owners: Sequence[str] | None) -> dict[date, dict[str, PipelineTotals]]:
    """The snapshots of ``days``, summed per currency over the owners in scope."""
    sums = ", ".join(f"sum({column})::{_SQL_TYPES[column]} AS {column}" for column in TOTALS_COLUMNS)
    rows = await conn.fetch(
        f"""
        SELECT day, currency, {sums} FROM pipeline_daily
        WHERE tenant_id = $1 AND day = ANY($2::date[]) AND ($3::text[] IS NULL OR owner_id = ANY($3))
        GROUP BY day, currency
        """,
        tenant_id, list(days), _listed(owners),
    )
    found: dict[date, dict[str, PipelineTotals]] = {day: {} for day in days}
    for row in rows:
        found[row["day"]][row["currency"]] = PipelineTotals(**{c: row[c] for c in TOTALS_COLUMNS})
    return found


async def claim_snapshot(conn: asyncpg.Connection, tenant_id: str, day: date) -> bool:
    """Whether this transaction is the one that takes the tenant's snapshot of ``day``."""
    claimed = await conn.fetchval(
        "INSERT INTO pipeline_snapshot_days (tenant_id, day) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING day",
        tenant_id, day)
    return claimed is not None


async def write_snapshot(conn: asyncpg.Connection, tenant_id: str, day: date,
                         totals: dict[tuple[str, str], PipelineTotals]) -> None:
    columns = ", ".join(TOTALS_COLUMNS)
    values = ", ".join(f"${n}" for n in range(5, 5 + len(TOTALS_COLUMNS)))
    # COPY is not available under row-level security; one multi-row executemany is the next best.
    await conn.executemany(
        f"INSERT INTO pipeline_daily (tenant_id, day, owner_id, currency, {columns}) VALUES ($1, $2, $3, $4, {values})",
        [(tenant_id, day, owner, currency, *(getattr(t, c) for c in TOTALS_COLUMNS))
         for (owner, currency), t in totals.items()],
    )


async def drop_snapshots_before(conn: asyncpg.Connection, tenant_id: str, day: date) -> None:
    await conn.execute("DELETE FROM pipeline_daily WHERE tenant_id = $1 AND day < $2", tenant_id, day)
    await conn.execute("DELETE FROM pipeline_snapshot_days WHERE tenant_id = $1 AND day < $2", tenant_id, day)


async def snapshot_tenants(conn: asyncpg.Connection) -> list[str]:
    """Every tenant (through the SECURITY DEFINER function of 008: a connection without a tenant sees none)."""
    return [row[0] for row in await conn.fetch("SELECT gateway_snapshot_tenants()")]


_SQL_TYPES = {f: ("float8" if isinstance(getattr(PipelineTotals(), f), float) else "int8") for f in TOTALS_COLUMNS}


# ---------------------------------------------------------------- people


async def team_members(conn: asyncpg.Connection, tenant_id: str, manager_id: str) -> list[str]:
    """The manager and everyone who reports to them, directly or not (``users.manager_id``)."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE team(user_id) AS (
            SELECT $2::text
            UNION
            SELECT u.user_id FROM users u JOIN team t ON u.manager_id = t.user_id WHERE u.tenant_id = $1
        )
        SELECT user_id FROM team ORDER BY user_id
        """,
        tenant_id, manager_id,
    )
    return [row["user_id"] for row in rows]


async def people_names(conn: asyncpg.Connection, tenant_id: str, owners: Sequence[str]) -> dict[str, str]:
    """Each owner's name: from ``users``, else as one of their open deals carries it (one index probe per owner,
    never a pass over the deals)."""
    rows = await conn.fetch(
        """
        SELECT o.owner_id, coalesce(u.name, (
            SELECT r.owner_name FROM deal_risk r
            WHERE r.tenant_id = $1 AND r.owner_id = o.owner_id AND NOT r.is_closed AND r.owner_name IS NOT NULL
            LIMIT 1)) AS name
        FROM unnest($2::text[]) AS o(owner_id)
        LEFT JOIN users u ON u.tenant_id = $1 AND u.user_id = o.owner_id
        """,
        tenant_id, list(owners),
    )
    return {row["owner_id"]: row["name"] for row in rows if row["name"] is not None}


@dataclass(frozen=True)
class Reporting:
    settings: ReportingSettings
    configured: bool  # False until an admin set them: the defaults are in use


async def reporting(conn: asyncpg.Connection, tenant_id: str) -> Reporting:
    """The tenant's reporting currency and rates (``PUT /v1/admin/reporting``), or the defaults."""
    stored = await store.tenant_setting(conn, tenant_id, REPORTING_KEY)
    if stored.value is None:
        return Reporting(ReportingSettings(), configured=False)
    return Reporting(ReportingSettings.model_validate(stored.value), configured=True)
