"""The scorer's tables: ``risk_scores`` (every score, history) and ``deal_risk`` (the latest per deal)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import numpy as np

from dealpulse_scorer.features import N_FEATURES


@dataclass(frozen=True)
class PreviousScore:
    risk_score: int
    risk_category: str
    features: list[float]
    scored_at: datetime
    model_version: str | None
    source_modified_at: datetime
    deal: dict[str, Any] | None  # the snapshot it scored; fetched only when another model version scored it


@dataclass(frozen=True)
class OpenDeal:
    """An open deal's latest score, as a re-score needs it: the snapshot and the score it replaces."""

    deal_id: str
    source_event_id: str
    deal: dict[str, Any]
    source_modified_at: datetime


@dataclass(frozen=True)
class ScoreRow:
    deal_id: str
    source_event_id: str
    risk_score: int
    risk_category: str
    win_probability: float
    model_version: str
    features: list[float]
    payload: dict[str, Any]
    amount: float | None
    owner_id: str | None
    is_closed: bool
    source_modified_at: datetime
    scored_at: datetime


async def stored_scores(conn: asyncpg.Connection, tenant_id: str, event_ids: Sequence[str]) -> dict[str, Any]:
    """Scores already persisted for these change events (a replay after a crash): event id -> payload."""
    rows = await conn.fetch(
        "SELECT source_event_id, payload FROM risk_scores WHERE tenant_id = $1 AND source_event_id = ANY($2)",
        tenant_id, list(event_ids),
    )
    return {r["source_event_id"]: r["payload"] for r in rows}


async def previous_scores(
    conn: asyncpg.Connection, tenant_id: str, deal_ids: Sequence[str], model_version: str
) -> dict[str, PreviousScore]:
    """The latest score of each deal; its snapshot comes along only if a model other than ``model_version``
    made it (the snapshot is then re-featurised with the current model to explain the change like with like)."""
    rows = await conn.fetch(
        "SELECT deal_id, risk_score, risk_category, features, scored_at, source_modified_at, "
        "model_version, CASE WHEN model_version IS DISTINCT FROM $3 THEN payload->'deal' END AS deal "
        "FROM deal_risk WHERE tenant_id = $1 AND deal_id = ANY($2)",
        tenant_id, list(deal_ids), model_version,
    )
    return {r["deal_id"]: PreviousScore(r["risk_score"], r["risk_category"], list(r["features"]), r["scored_at"],
                                        r["model_version"], r["source_modified_at"], r["deal"])
            for r in rows}


async def open_deals_not_scored_by(
    conn: asyncpg.Connection, tenant_id: str, model_version: str, after_deal_id: str, limit: int
) -> list[OpenDeal]:
    """The next open deals (by deal id, after ``after_deal_id``) whose latest score another model version made,
    locked until the transaction ends so no other writer replaces their score meanwhile."""
    rows = await conn.fetch(
        "SELECT deal_id, source_event_id, payload->'deal' AS deal, source_modified_at FROM deal_risk "
        "WHERE tenant_id = $1 AND NOT is_closed AND deal_id > $2 "
        "AND model_version IS DISTINCT FROM $3 "
        "ORDER BY deal_id LIMIT $4 FOR UPDATE",
        tenant_id, after_deal_id, model_version, limit,
    )
    return [OpenDeal(r["deal_id"], r["source_event_id"], r["deal"], r["source_modified_at"]) for r in rows]


async def tenants_with_open_deals(conn: asyncpg.Connection) -> list[str]:
    """Every tenant with an open scored deal (a SECURITY DEFINER function: see migration 004 for why)."""
    return [r["tenant_id"] for r in await conn.fetch("SELECT tenant_id FROM scorer_open_deal_tenants() AS tenant_id")]


async def prediction_distribution(
    conn: asyncpg.Connection, tenant_id: str, since: datetime
) -> list[asyncpg.Record]:
    """Open deals scored since ``since``, counted by risk category and model version."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT risk_category, model_version, count(*) AS deals, "
        "avg(win_probability) AS mean_win_probability FROM deal_risk "
        "WHERE tenant_id = $1 AND NOT is_closed AND scored_at >= $2 GROUP BY 1, 2",
        tenant_id, since,
    )
    return rows


async def open_deal_features(conn: asyncpg.Connection, tenant_id: str, since: datetime) -> np.ndarray:
    """The latest feature vector of each open deal scored since ``since`` (rows × features)."""
    rows = await conn.fetch("SELECT features FROM deal_risk WHERE tenant_id = $1 AND NOT is_closed AND scored_at >= $2",
                            tenant_id, since)
    return np.asarray([list(r["features"]) for r in rows], dtype=np.float32).reshape(len(rows), N_FEATURES)


async def save_scores(conn: asyncpg.Connection, tenant_id: str, rows: Sequence[ScoreRow]) -> None:
    await conn.executemany(
        "INSERT INTO risk_scores (tenant_id, source_event_id, deal_id, risk_score, risk_category, win_probability, "
        "model_version, features, payload, scored_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        "ON CONFLICT (tenant_id, source_event_id) DO NOTHING",
        [(tenant_id, r.source_event_id, r.deal_id, r.risk_score, r.risk_category, r.win_probability, r.model_version,
          r.features, r.payload, r.scored_at) for r in rows],
    )
    await conn.executemany(
        "INSERT INTO deal_risk AS c (tenant_id, deal_id, source_event_id, risk_score, risk_category, win_probability, "
        "amount, owner_id, is_closed, features, payload, source_modified_at, scored_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
        "ON CONFLICT (tenant_id, deal_id) DO UPDATE SET source_event_id = EXCLUDED.source_event_id, "
        "risk_score = EXCLUDED.risk_score, risk_category = EXCLUDED.risk_category, "
        "win_probability = EXCLUDED.win_probability, amount = EXCLUDED.amount, owner_id = EXCLUDED.owner_id, "
        "is_closed = EXCLUDED.is_closed, features = EXCLUDED.features, payload = EXCLUDED.payload, "
        "source_modified_at = EXCLUDED.source_modified_at, scored_at = EXCLUDED.scored_at "
        "WHERE c.source_modified_at <= EXCLUDED.source_modified_at",
        [(tenant_id, r.deal_id, r.source_event_id, r.risk_score, r.risk_category, r.win_probability, r.amount,
          r.owner_id, r.is_closed, r.features, r.payload, r.source_modified_at, r.scored_at) for r in rows],
    )


async def forget_deals(conn: asyncpg.Connection, tenant_id: str, deletions: Sequence[tuple[str, datetime]]) -> None:
    """Take deleted deals out of the live read model (``deal_risk``): no longer pipeline, never re-scored after a
    promotion. Their history in ``risk_scores`` stays for audit. A row newer than the deletion is kept (cannot
    happen while ingest orders changes, but a replay must not undo a later state)."""
    await conn.executemany(
        "DELETE FROM deal_risk WHERE tenant_id = $1 AND deal_id = $2 AND source_modified_at <= $3",
        [(tenant_id, deal_id, deleted_at) for deal_id, deleted_at in deletions],
    )


async def won_deals(conn: asyncpg.Connection, tenant_id: str, limit: int) -> list[dict[str, Any]]:
    """The tenant's most recently won deals, as the snapshots their last score saw."""
    rows = await conn.fetch(
        "SELECT payload->'deal' AS deal FROM deal_risk WHERE tenant_id = $1 AND is_closed "
        "AND (payload->'deal'->>'is_won')::boolean ORDER BY scored_at DESC LIMIT $2",
        tenant_id, limit,
    )
    return [r["deal"] for r in rows]
