"""The gateway's alert queries: the set-up it owns (the tenant's ``alert_channels`` settings, users' alert
preferences) and the feedback it takes (``alert_feedback``), plus the reads feedback needs from ``alerts``.

Every function takes a connection from ``store.tenant_connection`` (row-level security admits only that tenant).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from dealpulse_common.alert_settings import SETTINGS_KEY
from dealpulse_gateway import store

_WRITE_PREFERENCES = """
INSERT INTO alert_preferences (tenant_id, user_id, preferences) VALUES ($1, $2, $3::jsonb)
ON CONFLICT (tenant_id, user_id) DO UPDATE SET preferences = EXCLUDED.preferences
"""

_INSERT_FEEDBACK = """
INSERT INTO alert_feedback (tenant_id, alert_id, user_id, action, note, deal_id, alert_type, snoozed_until,
                            dedupe_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
RETURNING feedback_id
"""

# Per alert type: alerts raised, and how many of them someone marked a false alarm.
_PRECISION = """
SELECT a.alert_type, count(*) AS alerts,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM alert_feedback f WHERE f.tenant_id = a.tenant_id
                                      AND f.alert_id = a.alert_id AND f.action = 'false_alarm')) AS false_alarms
FROM alerts a WHERE a.tenant_id = $1
GROUP BY a.alert_type ORDER BY a.alert_type
"""


@dataclass(frozen=True)
class StoredAlert:
    alert_id: str
    deal_id: str
    alert_type: str
    owner_id: str | None


async def channel_settings(conn: asyncpg.Connection, tenant_id: str) -> tuple[dict[str, Any] | None, int]:
    """The stored ``alert_channels`` (None before the first edit) and their version (each edit of them bumps it)."""
    stored = await store.tenant_setting(conn, tenant_id, SETTINGS_KEY)
    return stored.value, stored.version


async def write_channel_settings(conn: asyncpg.Connection, tenant_id: str, channels: dict[str, Any]) -> int:
    return (await store.write_tenant_setting(conn, tenant_id, SETTINGS_KEY, channels)).version


async def preferences(conn: asyncpg.Connection, tenant_id: str, user_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await conn.fetchval(
        "SELECT preferences FROM alert_preferences WHERE tenant_id = $1 AND user_id = $2", tenant_id, user_id)
    return found


async def write_preferences(conn: asyncpg.Connection, tenant_id: str, user_id: str,
                            prefs: dict[str, Any]) -> None:
    await conn.execute(_WRITE_PREFERENCES, tenant_id, user_id, prefs)


async def alert(conn: asyncpg.Connection, tenant_id: str, alert_id: str) -> StoredAlert | None:
    row = await conn.fetchrow(
        "SELECT alert_id, deal_id, alert_type, payload->>'owner_id' AS owner_id FROM alerts "
        "WHERE tenant_id = $1 AND alert_id = $2", tenant_id, alert_id)
    return StoredAlert(**dict(row)) if row else None


async def insert_feedback(conn: asyncpg.Connection, tenant_id: str, stored: StoredAlert, user_id: str, action: str,
                          note: str | None, snoozed_until: datetime | None, dedupe_key: str) -> bool:
    """True when recorded now; False when the same feedback (same key) was recorded before."""
    found = await conn.fetchval(_INSERT_FEEDBACK, tenant_id, stored.alert_id, user_id, action, note, stored.deal_id,
                                stored.alert_type, snoozed_until, dedupe_key)
    return found is not None


async def precision(conn: asyncpg.Connection, tenant_id: str) -> list[tuple[str, int, int]]:
    """(alert type, alerts raised, marked false alarm) for the tenant."""
    return [(row["alert_type"], row["alerts"], row["false_alarms"])
            for row in await conn.fetch(_PRECISION, tenant_id)]


# The newest alerts first, each with the latest feedback anyone gave on it; ties on raised_at are ordered by id.
# A page continues after (``before``, ``before_id``), the last alert of the previous one, so alerts raised in the
# same microsecond are neither skipped nor repeated; ``before`` alone means raised strictly before that time.
_RECENT = """
SELECT a.alert_id, a.deal_id, a.alert_type, a.raised_at, a.payload, f.action AS feedback_action,
       f.user_id AS feedback_by, f.at AS feedback_at, f.snoozed_until
FROM alerts a
LEFT JOIN LATERAL (SELECT action, user_id, at, snoozed_until FROM alert_feedback f
                   WHERE f.tenant_id = a.tenant_id AND f.alert_id = a.alert_id
                   ORDER BY f.at DESC, f.feedback_id DESC LIMIT 1) f ON true
WHERE a.tenant_id = $1
  AND ($2::text[] IS NULL OR a.payload->>'owner_id' = ANY($2))
  AND ($3::text IS NULL OR a.deal_id = $3)
  AND ($4::text[] IS NULL OR a.alert_type = ANY($4))
  AND ($5::text[] IS NULL OR a.payload->>'severity' = ANY($5))
  AND ($6::timestamptz IS NULL OR a.raised_at < $6 OR (a.raised_at = $6 AND a.alert_id < $7::text))
ORDER BY a.raised_at DESC, a.alert_id DESC
LIMIT $8
"""


async def recent_alerts(conn: asyncpg.Connection, tenant_id: str, owners: list[str] | None, deal_id: str | None,
                        alert_types: list[str] | None, severities: list[str] | None, before: datetime | None,
                        before_id: str | None, limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(_RECENT, tenant_id, owners, deal_id, alert_types, severities,
                                                  before, before_id, limit)
    return rows
