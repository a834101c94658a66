"""Verdict's tables: ``verdicts`` (one row per scored event), ``deal_verdict`` (the latest per deal) and
``verdict_overrides`` (every override command, once).

Every function runs inside a tenant transaction (row-level security is forced).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from dealpulse_common.events import DealVerdictData, DealVerdictOverride

TENANT_VERDICT_SETTINGS = """
SELECT settings -> 'verdict' AS verdict, coalesce((section_versions ->> 'verdict')::int, version) AS version
FROM tenant_settings WHERE tenant_id = $1
"""

# One statement: the history row, idempotent by the scored event's id, and - only when that row is new - the
# latest-per-deal row, which a verdict resting on an older score never overwrites.
RECORD_VERDICT = """
WITH inserted AS (
    INSERT INTO verdicts (tenant_id, source_event_id, deal_id, ai_forecast, ai_verdict, commit_admission,
                          predictive_eligible, payload, decided_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
    ON CONFLICT (tenant_id, source_event_id) DO NOTHING
    RETURNING tenant_id, deal_id, source_event_id, ai_forecast, ai_verdict, commit_admission, predictive_eligible,
              payload, decided_at
), latest AS (
    INSERT INTO deal_verdict AS dv (tenant_id, deal_id, source_event_id, ai_forecast, ai_verdict, commit_admission,
                                    predictive_eligible, payload, decided_at, scored_at)
    SELECT tenant_id, deal_id, source_event_id, ai_forecast, ai_verdict, commit_admission, predictive_eligible,
           payload, decided_at, $10::timestamptz
    FROM inserted
    ON CONFLICT (tenant_id, deal_id) DO UPDATE SET
        source_event_id = EXCLUDED.source_event_id, ai_forecast = EXCLUDED.ai_forecast,
        ai_verdict = EXCLUDED.ai_verdict, commit_admission = EXCLUDED.commit_admission,
        predictive_eligible = EXCLUDED.predictive_eligible, payload = EXCLUDED.payload,
        decided_at = EXCLUDED.decided_at, scored_at = EXCLUDED.scored_at
    WHERE dv.scored_at IS NULL OR dv.scored_at <= EXCLUDED.scored_at
)
SELECT payload FROM inserted
"""

STORED_VERDICT = "SELECT payload FROM verdicts WHERE tenant_id = $1 AND source_event_id = $2"

# Locked: a score and an override of one deal may be handled at once (two topics, two consumers of the group), and
# neither may write the deal's latest verdict over the other's.
LATEST_VERDICT = "SELECT payload FROM deal_verdict WHERE tenant_id = $1 AND deal_id = $2 FOR UPDATE"

# The command once, by its event id, and - only when that row is new - the deal's latest verdict carrying it.
RECORD_OVERRIDE = """
WITH inserted AS (
    INSERT INTO verdict_overrides (tenant_id, deal_id, command_id, action, verdict, reason, overridden_by, at,
                                   ai_verdict, previous_verdict)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (tenant_id, command_id) DO NOTHING
    RETURNING override_id
), latest AS (
    UPDATE deal_verdict SET payload = $11::jsonb
    WHERE tenant_id = $1 AND deal_id = $2 AND EXISTS (SELECT 1 FROM inserted)
)
SELECT override_id FROM inserted
"""


@dataclass(frozen=True)
class TenantVerdictSettings:
    overrides: Any
    version: int


@dataclass(frozen=True)
class RecordedVerdict:
    data: DealVerdictData
    is_new: bool


async def tenant_verdict_settings(conn: asyncpg.Connection, tenant_id: str) -> TenantVerdictSettings | None:
    row = await conn.fetchrow(TENANT_VERDICT_SETTINGS, tenant_id)
    return None if row is None else TenantVerdictSettings(row["verdict"], row["version"])


async def latest_verdict(conn: asyncpg.Connection, tenant_id: str, deal_id: str) -> DealVerdictData | None:
    """The deal's verdict of its newest score so far (earlier verdicts of this same batch included)."""
    payload = await conn.fetchval(LATEST_VERDICT, tenant_id, deal_id)
    return None if payload is None else DealVerdictData.model_validate(payload)


async def record_verdict(conn: asyncpg.Connection, tenant_id: str, deal_id: str, data: DealVerdictData,
                         scored_at: datetime) -> RecordedVerdict:
    """Store a verdict once; for a scored event seen before, the verdict stored then (so a replay republishes
    exactly what was decided the first time, whatever the thresholds are now)."""
    payload = await conn.fetchval(
        RECORD_VERDICT, tenant_id, data.source_event_id, deal_id, data.ai_forecast.value, data.ai_verdict.value,
        data.commit_admission.value, data.predictive_eligible, data.model_dump(mode="json"), data.decided_at,
        scored_at,
    )
    if payload is not None:
        return RecordedVerdict(data, is_new=True)
    stored = await conn.fetchval(STORED_VERDICT, tenant_id, data.source_event_id)
    if stored is None:  # a conflict means the row exists; if it vanished, fail loudly rather than publish nothing
        raise LookupError(f"verdict for {data.source_event_id} conflicted but is not stored")
    return RecordedVerdict(DealVerdictData.model_validate(stored), is_new=False)


async def record_override(conn: asyncpg.Connection, command: DealVerdictOverride, before: DealVerdictData,
                          after: DealVerdictData) -> bool:
    """Record the command (what it sets beside which AI verdict, and the override it replaces) and make ``after``
    the deal's latest verdict; False when the command was recorded before (a replay changes nothing)."""
    data, override = command.data, after.override
    previous = before.override.forecast_category.value if before.override else None
    recorded = await conn.fetchval(
        RECORD_OVERRIDE, command.tenantid, command.dealid, command.id, data.action,
        override.forecast_category.value if override else None, data.reason, data.requested_by, data.requested_at,
        before.ai_verdict.value, previous, after.model_dump(mode="json"),
    )
    return recorded is not None
