"""Alerts' table: ``alerts``, one row per alert raised, written before it is published (an outbox); and what alerts
read of the scorer's ``risk_scores`` (every score a deal had) to measure a risk jump against a week of them.

Also the tenant's alert rules, read from the gateway's ``tenant_settings``.

Every function runs inside a tenant transaction (row-level security is forced).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from dealpulse_alerts.handlers import PastScore
from dealpulse_common.events import AlertType, DealAlert, DealAlertData
from dealpulse_common.tenant_rules import ALERT_RULES_KEY

# The alert this candidate raised before (a replay) if any, else the deal's latest alert of that type inside the
# throttle window. The window has no upper end: after a replay of old events, no alert older than one already
# raised is sent.
PREVIOUS_ALERT = """
SELECT alert_id, payload, raised_at, published_at IS NOT NULL AS published
FROM alerts
WHERE tenant_id = $1 AND deal_id = $2 AND alert_type = $3 AND (alert_id = $4 OR raised_at > $5)
ORDER BY alert_id = $4 DESC, raised_at DESC
LIMIT 1
"""

INSERT_ALERT = """
INSERT INTO alerts (tenant_id, alert_id, deal_id, alert_type, source_event_id, payload, raised_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
ON CONFLICT (tenant_id, alert_id) DO NOTHING
RETURNING alert_id
"""

# For each (deal, moment) asked about, the deal's lowest score in [moment - window, moment), the latest of equals.
# The scorer commits a score before it publishes it, so every earlier score of the deal is here already.
LOWEST_RECENT_SCORES = """
SELECT q.n, low.risk_score, low.scored_at
FROM unnest($2::text[], $3::timestamptz[]) WITH ORDINALITY AS q(deal_id, scored_at, n)
JOIN LATERAL (SELECT s.risk_score, s.scored_at FROM risk_scores s
              WHERE s.tenant_id = $1 AND s.deal_id = q.deal_id
                AND s.scored_at >= q.scored_at - $4::interval AND s.scored_at < q.scored_at
              ORDER BY s.risk_score, s.scored_at DESC LIMIT 1) low ON true
"""

MARK_PUBLISHED = """
UPDATE alerts SET published_at = now()
WHERE tenant_id = $1 AND alert_id = ANY($2::text[]) AND published_at IS NULL
"""


@dataclass(frozen=True)
class PreviousAlert:
    alert_id: str
    data: DealAlertData
    raised_at: datetime
    published: bool


async def previous_alert(conn: asyncpg.Connection, tenant_id: str, deal_id: str, alert_type: AlertType,
                         alert_id: str, since: datetime) -> PreviousAlert | None:
    row = await conn.fetchrow(PREVIOUS_ALERT, tenant_id, deal_id, alert_type.value, alert_id, since)
    if row is None:
        return None
    return PreviousAlert(row["alert_id"], DealAlertData.model_validate(row["payload"]), row["raised_at"],
                         row["published"])


async def insert_alert(conn: asyncpg.Connection, alert: DealAlert) -> bool:
    """True when stored now; False when the same alert was stored already (by a concurrent replica)."""
    data = alert.data
    inserted = await conn.fetchval(INSERT_ALERT, alert.tenantid, data.alert_id, alert.dealid, data.alert_type.value,
                                   data.source_event_id, data.model_dump(mode="json"), data.raised_at)
    return inserted is not None


async def mark_published(conn: asyncpg.Connection, tenant_id: str, alert_ids: list[str]) -> None:
    await conn.execute(MARK_PUBLISHED, tenant_id, alert_ids)


async def lowest_recent_scores(conn: asyncpg.Connection, tenant_id: str, asked: list[tuple[str, datetime]],
                               window: timedelta) -> list[PastScore | None]:
    """For each (deal id, scored at), the deal's lowest score of ``window`` before that moment, None if it had none."""
    if not asked:
        return []
    rows = await conn.fetch(LOWEST_RECENT_SCORES, tenant_id, [deal for deal, _ in asked], [at for _, at in asked],
                            window)
    found = {row["n"]: PastScore(row["risk_score"], row["scored_at"]) for row in rows}
    return [found.get(n) for n in range(1, len(asked) + 1)]


async def alert_rule_settings(conn: asyncpg.Connection, tenant_id: str) -> Any:
    """The tenant's ``alert_rules`` section as stored (None when it set none)."""
    return await conn.fetchval("SELECT settings->$2::text FROM tenant_settings WHERE tenant_id = $1",
                               tenant_id, ALERT_RULES_KEY)
