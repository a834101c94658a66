"""Delivery's queries: the ``alert_deliveries`` rows, and what planning reads (channel settings, users and their
preferences, snoozes). Every function runs inside a tenant transaction (row-level security is forced), except the
two tenant listings, which go through the SECURITY DEFINER functions of migration 007.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from dealpulse_alerts.delivery_plan import Delivery, PlannedDelivery
from dealpulse_common.alert_settings import SETTINGS_KEY, ChannelSettings, UserPreferences

INSERT_DELIVERY = """
INSERT INTO alert_deliveries (tenant_id, delivery_id, kind, alert_id, deal_id, channel, recipient, address, message,
                              deliver_after, next_attempt_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $10)
ON CONFLICT (tenant_id, delivery_id) DO NOTHING
"""

DUE = """
SELECT delivery_id, channel, address FROM alert_deliveries
WHERE tenant_id = $1 AND status = 'pending' AND next_attempt_at <= now()
ORDER BY next_attempt_at, delivery_id
LIMIT $2
"""

# Locked for the length of one send: another worker skips it, and a worker killed mid-send leaves it pending
# (its transaction dies with it), so nothing is lost and only a send the remote had already taken in full, in the
# instant before the commit, can be repeated.
LOCK_DUE = """
SELECT delivery_id, channel, address, message, attempts FROM alert_deliveries
WHERE tenant_id = $1 AND delivery_id = $2 AND status = 'pending' AND next_attempt_at <= now()
FOR UPDATE SKIP LOCKED
"""

MARK_SENT = """
UPDATE alert_deliveries SET status = 'sent', attempts = attempts + 1, sent_at = now(), last_error = NULL
WHERE tenant_id = $1 AND delivery_id = $2
"""

MARK_RETRY = """
UPDATE alert_deliveries SET attempts = attempts + 1, last_error = $3, next_attempt_at = $4
WHERE tenant_id = $1 AND delivery_id = $2
"""

MARK_FAILED = """
UPDATE alert_deliveries SET status = 'failed', attempts = attempts + 1, last_error = $3
WHERE tenant_id = $1 AND delivery_id = $2
"""

USERS = """
SELECT u.user_id, u.email, u.name, u.role, u.manager_id, u.timezone, p.preferences
FROM users u LEFT JOIN alert_preferences p ON p.tenant_id = u.tenant_id AND p.user_id = u.user_id
WHERE u.tenant_id = $1 AND ($2::text[] IS NULL OR u.user_id = ANY($2::text[]))
ORDER BY u.user_id
"""

SNOOZED = """
SELECT EXISTS (SELECT 1 FROM alert_feedback WHERE tenant_id = $1 AND deal_id = $2 AND alert_type = $3
               AND action = 'snooze' AND snoozed_until > $4)
"""


@dataclass(frozen=True)
class LockedDelivery:
    delivery: Delivery
    attempts: int


@dataclass(frozen=True)
class UserRow:
    user_id: str
    email: str | None
    name: str | None
    role: str
    manager_id: str | None
    timezone: str
    preferences: UserPreferences


async def insert_deliveries(conn: asyncpg.Connection, tenant_id: str, planned: Sequence[PlannedDelivery]) -> None:
    if planned:
        await conn.executemany(INSERT_DELIVERY, [
            (tenant_id, d.delivery_id, d.kind, d.alert_id, d.deal_id, d.channel, d.recipient, d.address, d.message,
             d.deliver_after) for d in planned])


async def tenants_with_due_deliveries(conn: asyncpg.Connection) -> list[str]:
    return [row[0] for row in await conn.fetch("SELECT alerts_due_delivery_tenants()")]


async def all_tenants(conn: asyncpg.Connection) -> list[str]:
    return [row[0] for row in await conn.fetch("SELECT alerts_all_tenants()")]


async def due_deliveries(conn: asyncpg.Connection, tenant_id: str, limit: int) -> list[tuple[str, str, str | None]]:
    """(delivery id, channel, address) of the tenant's pending deliveries that are due, oldest first."""
    return [(row["delivery_id"], row["channel"], row["address"]) for row in await conn.fetch(DUE, tenant_id, limit)]


async def lock_due(conn: asyncpg.Connection, tenant_id: str, delivery_id: str) -> LockedDelivery | None:
    """The delivery, locked, if it is still pending and due and no other worker holds it."""
    row = await conn.fetchrow(LOCK_DUE, tenant_id, delivery_id)
    if row is None:
        return None
    return LockedDelivery(Delivery(row["delivery_id"], row["channel"], row["address"], row["message"]),
                          row["attempts"])


async def mark_sent(conn: asyncpg.Connection, tenant_id: str, delivery_id: str) -> None:
    await conn.execute(MARK_SENT, tenant_id, delivery_id)


async def mark_retry(conn: asyncpg.Connection, tenant_id: str, delivery_id: str, error: str,
                     next_attempt_at: datetime) -> None:
    await conn.execute(MARK_RETRY, tenant_id, delivery_id, error, next_attempt_at)


async def mark_failed(conn: asyncpg.Connection, tenant_id: str, delivery_id: str, error: str) -> None:
    await conn.execute(MARK_FAILED, tenant_id, delivery_id, error)


async def channel_settings(conn: asyncpg.Connection, tenant_id: str) -> ChannelSettings:
    stored = await conn.fetchval(
        f"SELECT settings->'{SETTINGS_KEY}' FROM tenant_settings WHERE tenant_id = $1", tenant_id)
    return ChannelSettings.model_validate(stored) if stored else ChannelSettings()


async def users(conn: asyncpg.Connection, tenant_id: str, user_ids: Sequence[str] | None = None) -> list[UserRow]:
    """The tenant's users (``user_ids`` only, if given) with their alert preferences (defaults where none)."""
    rows = await conn.fetch(USERS, tenant_id, list(user_ids) if user_ids is not None else None)
    return [UserRow(row["user_id"], row["email"], row["name"], row["role"], row["manager_id"], row["timezone"],
                    UserPreferences.model_validate(row["preferences"] or {})) for row in rows]


async def snoozed(conn: asyncpg.Connection, tenant_id: str, deal_id: str, alert_type: str, at: datetime) -> bool:
    return bool(await conn.fetchval(SNOOZED, tenant_id, deal_id, alert_type, at))


async def delivery_statuses(conn: asyncpg.Connection, tenant_id: str,
                            delivery_ids: Sequence[str]) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT delivery_id, channel, status, attempts, last_error FROM alert_deliveries "
        "WHERE tenant_id = $1 AND delivery_id = ANY($2::text[]) ORDER BY channel", tenant_id, list(delivery_ids))
    return [dict(row) for row in rows]
