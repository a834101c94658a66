"""The SQL of ``dealpulse user``: the gateway's ``users`` table (who works in a tenant, in which role, reporting to
whom, disabled or not). Every function runs in the tenant's transaction (row-level security is forced)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class User:
    user_id: str
    role: str
    manager_id: str | None
    name: str | None
    email: str | None
    timezone: str
    disabled_at: datetime | None


async def tenant_exists(conn: asyncpg.Connection, tenant_id: str) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM tenants WHERE tenant_id = $1)", tenant_id))


async def user(conn: asyncpg.Connection, tenant_id: str, user_id: str) -> User | None:
    row = await conn.fetchrow(
        "SELECT user_id, role, manager_id, name, email, timezone, disabled_at FROM users "
        "WHERE tenant_id = $1 AND user_id = $2", tenant_id, user_id)
    return None if row is None else User(**dict(row))


async def users(conn: asyncpg.Connection, tenant_id: str) -> list[User]:
    rows = await conn.fetch(
        "SELECT user_id, role, manager_id, name, email, timezone, disabled_at FROM users WHERE tenant_id = $1 "
        "ORDER BY user_id", tenant_id)
    return [User(**dict(row)) for row in rows]


async def add_user(conn: asyncpg.Connection, tenant_id: str, person: User) -> bool:
    """Insert the user; False if the tenant already has one of that id."""
    status = await conn.execute(
        "INSERT INTO users (tenant_id, user_id, role, manager_id, name, email, timezone) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, user_id) DO NOTHING",
        tenant_id, person.user_id, person.role, person.manager_id, person.name, person.email, person.timezone)
    return bool(status == "INSERT 0 1")


async def enable_user(conn: asyncpg.Connection, tenant_id: str, user_id: str) -> datetime | None:
    """Clear the user's disabled mark; when they were enabled, or None if there is no such disabled user."""
    enabled_at: datetime | None = await conn.fetchval(
        "UPDATE users SET disabled_at = NULL WHERE tenant_id = $1 AND user_id = $2 AND disabled_at IS NOT NULL "
        "RETURNING clock_timestamp()", tenant_id, user_id)
    return enabled_at


async def disable_user(conn: asyncpg.Connection, tenant_id: str, user_id: str) -> datetime | None:
    """Mark the user disabled (a user disabled before keeps their first time); when, or None if unknown."""
    disabled_at: datetime | None = await conn.fetchval(
        "UPDATE users SET disabled_at = coalesce(disabled_at, now()) WHERE tenant_id = $1 AND user_id = $2 "
        "RETURNING disabled_at", tenant_id, user_id)
    return disabled_at
