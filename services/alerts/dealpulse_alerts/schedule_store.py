"""The scheduler's queries: claiming a user's period (``alert_schedule_runs``) and what a digest and a weekly
summary read from the deal read models (``deal_risk``, ``deals``, ``risk_scores``), which alerts never writes.
Every function runs inside a tenant transaction.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from dealpulse_common.teams import TEAM_OF

# A second replica's insert of the same key waits for the first one's transaction, then does nothing: one run.
CLAIM_RUN = """
INSERT INTO alert_schedule_runs (tenant_id, user_id, kind, period, deliveries) VALUES ($1, $2, $3, $4, 0)
ON CONFLICT DO NOTHING
RETURNING period
"""

RECORD_RUN = """
UPDATE alert_schedule_runs SET deliveries = $5 WHERE tenant_id = $1 AND user_id = $2 AND kind = $3 AND period = $4
"""

# The user's high-risk open deals: their own and their team's (the deal names them its manager, or its owner is
# on their team: the team the gateway shows them), or all of the tenant's for an admin ($2 NULL). A deleted deal is
# no longer pipeline.
_HIGH_RISK_SCOPE = f"""
FROM deal_risk r
WHERE r.tenant_id = $1 AND NOT r.is_closed AND r.risk_category IN ('high', 'critical')
  AND ($2::text IS NULL OR r.payload->'deal'->>'manager_id' = $2 OR r.owner_id IN ({TEAM_OF}))
  AND NOT EXISTS (SELECT 1 FROM deals d WHERE d.tenant_id = r.tenant_id AND d.deal_id = r.deal_id
                  AND d.deleted_at IS NOT NULL)
"""

TOP_HIGH_RISK = f"""
SELECT r.deal_id, r.payload->'deal'->>'name' AS name, r.amount,
       coalesce(r.payload->'deal'->>'currency', 'USD') AS currency, r.risk_score, r.risk_category,
       r.payload->'factors'->0->>'label' AS top_factor
{_HIGH_RISK_SCOPE}
ORDER BY r.risk_score DESC, r.amount DESC NULLS LAST, r.deal_id
LIMIT $3
"""

HIGH_RISK_TOTALS = f"""
SELECT coalesce(r.payload->'deal'->>'currency', 'USD') AS currency, count(*) AS deals,
       coalesce(sum(r.amount), 0) AS amount
{_HIGH_RISK_SCOPE}
GROUP BY 1 ORDER BY 1
"""

PIPELINE_BY_CURRENCY = """
SELECT coalesce(r.payload->'deal'->>'currency', 'USD') AS currency, coalesce(sum(r.amount), 0) AS pipeline,
       coalesce(sum(r.amount * r.win_probability), 0) AS risk_adjusted,
       coalesce(sum(r.amount) FILTER (WHERE r.risk_category IN ('high', 'critical')), 0) AS at_risk
FROM deal_risk r
WHERE r.tenant_id = $1 AND NOT r.is_closed
  AND NOT EXISTS (SELECT 1 FROM deals d WHERE d.tenant_id = r.tenant_id AND d.deal_id = r.deal_id
                  AND d.deleted_at IS NOT NULL)
GROUP BY 1 ORDER BY 1
"""

# Won share of the deals closed in [$2, $3).
WIN_RATE = """
SELECT count(*) AS closed, count(*) FILTER (WHERE (snapshot->>'is_won')::boolean) AS won
FROM deals
WHERE tenant_id = $1 AND deleted_at IS NULL AND (snapshot->>'is_closed')::boolean
  AND (snapshot->>'closed_at')::timestamptz >= $2 AND (snapshot->>'closed_at')::timestamptz < $3
"""

# Open deals whose risk moved most since their last score before $2.
BIGGEST_MOVERS = """
SELECT r.deal_id, r.payload->'deal'->>'name' AS name, r.risk_score, before.risk_score AS was
FROM deal_risk r
JOIN LATERAL (SELECT s.risk_score FROM risk_scores s WHERE s.tenant_id = r.tenant_id AND s.deal_id = r.deal_id
              AND s.scored_at < $2 ORDER BY s.scored_at DESC LIMIT 1) before ON true
WHERE r.tenant_id = $1 AND NOT r.is_closed AND r.risk_score <> before.risk_score
ORDER BY abs(r.risk_score - before.risk_score) DESC, r.deal_id
LIMIT $3
"""


async def claim_run(conn: asyncpg.Connection, tenant_id: str, user_id: str, kind: str, period: str) -> bool:
    """True when this transaction now owns the user's period; False when it ran (or is running) elsewhere."""
    return await conn.fetchval(CLAIM_RUN, tenant_id, user_id, kind, period) is not None


async def record_run(conn: asyncpg.Connection, tenant_id: str, user_id: str, kind: str, period: str,
                     deliveries: int) -> None:
    await conn.execute(RECORD_RUN, tenant_id, user_id, kind, period, deliveries)


async def top_high_risk(conn: asyncpg.Connection, tenant_id: str, user_id: str | None,
                        limit: int) -> list[asyncpg.Record]:
    return list(await conn.fetch(TOP_HIGH_RISK, tenant_id, user_id, limit))


async def high_risk_totals(conn: asyncpg.Connection, tenant_id: str, user_id: str | None) -> list[asyncpg.Record]:
    return list(await conn.fetch(HIGH_RISK_TOTALS, tenant_id, user_id))


async def pipeline_by_currency(conn: asyncpg.Connection, tenant_id: str) -> list[asyncpg.Record]:
    return list(await conn.fetch(PIPELINE_BY_CURRENCY, tenant_id))


async def win_rate(conn: asyncpg.Connection, tenant_id: str, since: datetime, until: datetime) -> float | None:
    row = await conn.fetchrow(WIN_RATE, tenant_id, since, until)
    return row["won"] / row["closed"] if row["closed"] else None


async def biggest_movers(conn: asyncpg.Connection, tenant_id: str, since: datetime,
                         limit: int) -> list[asyncpg.Record]:
    return list(await conn.fetch(BIGGEST_MOVERS, tenant_id, since, limit))
