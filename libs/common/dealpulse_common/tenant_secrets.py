"""The tenant registry and its sealed secrets (``tenants``, ``tenant_secrets``): the one place that writes and
reads them, for the gateway (onboarding, connector settings), ingest (what a CRM proves itself with), the CLI
(seeding the demo tenant, re-encrypting) and the tests.

Functions take a connection in the tenant's transaction (row-level security), except those named ``platform_``,
which set ``app.scope = 'platform'`` to read the registry across tenants (migration 009).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from dealpulse_common.db import set_tenant
from dealpulse_common.secrets_at_rest import SecretBox

WEBHOOK = "webhook"
PREVIOUS_WEBHOOK = "webhook.previous"
# The connectors' own secrets, by CRM: what a tenant admin sets with PUT /v1/admin/connectors/{crm}.
CONNECTOR_SECRETS = {"salesforce": ("token",), "hubspot": ("app_secret",), "pipedrive": ("password",)}


def connector_secret_name(crm: str, key: str) -> str:
    return f"{crm}.{key}"


@dataclass(frozen=True)
class TenantRecord:
    tenant_id: str
    name: str
    created_at: datetime
    disabled_at: datetime | None
    previous_secret_valid_until: datetime | None = None


@dataclass(frozen=True)
class StoredSecret:
    value: str
    valid_until: datetime | None  # None: until replaced

    def valid_at(self, now: datetime) -> bool:
        return self.valid_until is None or now < self.valid_until


@dataclass(frozen=True)
class TenantKeys:
    """What ingest needs to admit a tenant's delivery: whether it is disabled, and its secrets, opened."""

    disabled: bool
    secrets: dict[str, StoredSecret] = field(default_factory=dict)

    def webhook_secrets(self, now: datetime) -> list[str]:
        """The current webhook secret, then the previous one while its overlap lasts."""
        found = (self.secrets.get(name) for name in (WEBHOOK, PREVIOUS_WEBHOOK))
        return [s.value for s in found if s is not None and s.valid_at(now)]

    def connector_secret(self, crm: str, key: str) -> str | None:
        stored = self.secrets.get(connector_secret_name(crm, key))
        return stored.value if stored else None


_TENANT_COLUMNS = "t.tenant_id, t.name, t.created_at, t.disabled_at"
_WITH_OVERLAP = f"""
SELECT {_TENANT_COLUMNS}, p.valid_until AS previous_secret_valid_until FROM tenants t
LEFT JOIN tenant_secrets p ON p.tenant_id = t.tenant_id AND p.name = '{PREVIOUS_WEBHOOK}' AND p.valid_until > now()
"""

_WRITE_SECRET = """
INSERT INTO tenant_secrets (tenant_id, name, sealed, valid_until) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, name) DO UPDATE SET sealed = EXCLUDED.sealed, valid_until = EXCLUDED.valid_until,
                                             updated_at = now()
"""


async def create_tenant(conn: asyncpg.Connection, box: SecretBox, tenant_id: str, name: str,
                        webhook_secret: str) -> TenantRecord | None:
    """A new tenant with its sealed webhook secret; None when the id is taken."""
    row = await conn.fetchrow("INSERT INTO tenants (tenant_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING "
                              f"RETURNING {_TENANT_COLUMNS.replace('t.', '')}", tenant_id, name)
    if row is None:
        return None
    await write_secret(conn, box, tenant_id, WEBHOOK, webhook_secret)
    return TenantRecord(**dict(row))


async def ensure_tenant(conn: asyncpg.Connection, box: SecretBox, tenant_id: str, name: str,
                        webhook_secret: str) -> None:
    """The tenant exists, enabled, with this webhook secret (seeding a known tenant: the demo's)."""
    await set_tenant(conn, tenant_id)
    await conn.execute("INSERT INTO tenants (tenant_id, name) VALUES ($1, $2) "
                       "ON CONFLICT (tenant_id) DO UPDATE SET disabled_at = NULL", tenant_id, name)
    await write_secret(conn, box, tenant_id, WEBHOOK, webhook_secret)


async def tenant_disabled(conn: asyncpg.Connection, tenant_id: str) -> bool:
    """Whether the tenant was disabled (an unknown tenant is not: it simply has no data)."""
    disabled: bool | None = await conn.fetchval(
        "SELECT disabled_at IS NOT NULL FROM tenants WHERE tenant_id = $1", tenant_id)
    return bool(disabled)


async def tenant(conn: asyncpg.Connection, tenant_id: str) -> TenantRecord | None:
    row = await conn.fetchrow(f"{_WITH_OVERLAP} WHERE t.tenant_id = $1", tenant_id)
    return TenantRecord(**dict(row)) if row else None


async def platform_tenants(conn: asyncpg.Connection, *, after: str | None, limit: int) -> list[TenantRecord]:
    """Every tenant, by id, ``limit`` of them after ``after`` (the registry only: their secrets stay unread)."""
    await conn.execute("SELECT set_config('app.scope', 'platform', true)")
    rows = await conn.fetch(f"SELECT {_TENANT_COLUMNS}, NULL::timestamptz AS previous_secret_valid_until "
                            "FROM tenants t WHERE t.tenant_id > coalesce($1, '') ORDER BY t.tenant_id LIMIT $2",
                            after, limit)
    return [TenantRecord(**dict(row)) for row in rows]


async def disable_tenant(conn: asyncpg.Connection, tenant_id: str) -> TenantRecord | None:
    await conn.execute("UPDATE tenants SET disabled_at = coalesce(disabled_at, now()) WHERE tenant_id = $1",
                       tenant_id)
    return await tenant(conn, tenant_id)


async def rotate_webhook_secret(conn: asyncpg.Connection, box: SecretBox, tenant_id: str, new_secret: str,
                                old_valid_until: datetime) -> None:
    """``new_secret`` becomes the webhook secret; the one it replaces stays valid until ``old_valid_until``."""
    await conn.execute(
        "INSERT INTO tenant_secrets (tenant_id, name, sealed, valid_until) "
        "SELECT tenant_id, $2, sealed, $3 FROM tenant_secrets WHERE tenant_id = $1 AND name = $4 "
        "ON CONFLICT (tenant_id, name) DO UPDATE SET sealed = EXCLUDED.sealed, valid_until = EXCLUDED.valid_until, "
        "updated_at = now()", tenant_id, PREVIOUS_WEBHOOK, old_valid_until, WEBHOOK)
    await write_secret(conn, box, tenant_id, WEBHOOK, new_secret)


async def write_secret(conn: asyncpg.Connection, box: SecretBox, tenant_id: str, name: str, value: str,
                       valid_until: datetime | None = None) -> None:
    await conn.execute(_WRITE_SECRET, tenant_id, name, box.seal(value), valid_until)


async def secret_names(conn: asyncpg.Connection, tenant_id: str) -> set[str]:
    """Which secrets the tenant has (never their values: what an admin's GET may show)."""
    rows = await conn.fetch("SELECT name FROM tenant_secrets WHERE tenant_id = $1", tenant_id)
    return {row["name"] for row in rows}


async def tenant_keys(conn: asyncpg.Connection, box: SecretBox, tenant_id: str) -> TenantKeys | None:
    """The tenant's status and opened secrets (expired ones left out); None for an unknown tenant."""
    disabled = await conn.fetchval("SELECT disabled_at IS NOT NULL FROM tenants WHERE tenant_id = $1", tenant_id)
    if disabled is None:
        return None
    rows = await conn.fetch("SELECT name, sealed, valid_until FROM tenant_secrets "
                            "WHERE tenant_id = $1 AND (valid_until IS NULL OR valid_until > now())", tenant_id)
    return TenantKeys(disabled, {r["name"]: StoredSecret(box.open(r["sealed"]), r["valid_until"]) for r in rows})


async def reseal_all(conn: asyncpg.Connection, box: SecretBox) -> int:
    """Every stored secret of every tenant sealed again with the first key; how many. Needs a transaction."""
    await conn.execute("SELECT set_config('app.scope', 'platform', true)")
    resealed = 0
    for tenant_id in [r["tenant_id"] for r in await conn.fetch("SELECT tenant_id FROM tenants ORDER BY 1")]:
        await set_tenant(conn, tenant_id)
        for row in await conn.fetch("SELECT name, sealed FROM tenant_secrets WHERE tenant_id = $1", tenant_id):
            await conn.execute("UPDATE tenant_secrets SET sealed = $3 WHERE tenant_id = $1 AND name = $2",
                               tenant_id, row["name"], box.reseal(row["sealed"]))
            resealed += 1
    return resealed
