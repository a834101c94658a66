"""Plain versioned SQL migrations, applied in order, each once, each in its own transaction."""

from __future__ import annotations

import logging
from importlib import resources
from urllib.parse import unquote, urlparse, urlunparse

import asyncpg

from dealpulse_common.db import set_tenant
from dealpulse_common.secrets_at_rest import SecretBox
from dealpulse_common.tenant_secrets import WEBHOOK, write_secret

log = logging.getLogger(__name__)


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("dealpulse_cli") / "migrations"
    files = sorted(f for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in files]


async def ensure_database(admin_url: str, app_role: str, app_password: str | None) -> None:
    """Create the application role and database when missing (embedded stack and fresh clusters), and give the role
    ``app_password`` even when it exists, so the Secret holding it stays the one source (rotating it is: change the
    Secret, run the migrate Job, restart the services)."""
    parsed = urlparse(admin_url)
    database = parsed.path.lstrip("/")
    maintenance_url = urlunparse(parsed._replace(path="/postgres"))
    conn = await asyncpg.connect(maintenance_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", app_role)
        # PostgreSQL quotes the name and the password itself (%I, %L): neither is ever pasted into SQL by hand.
        statement = "ALTER ROLE %I" if exists else "CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS"
        if app_password is not None:
            await conn.execute(await conn.fetchval(f"SELECT format('{statement} PASSWORD %L', $1::text, $2::text)",
                                                   app_role, app_password))
        elif not exists:
            await conn.execute(await conn.fetchval(f"SELECT format('{statement}', $1::text)", app_role))
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


def app_credentials(app_url: str, app_role: str) -> str | None:
    """The password of the application role in its connection URL (``DATABASE_URL``), which must name that role:
    the migrations grant to it by name."""
    parsed = urlparse(app_url)
    if unquote(parsed.username or "") != app_role:
        raise ValueError(f"DATABASE_URL must connect as {app_role} (the role the migrations grant to), "
                         f"not {parsed.username!r}")
    return unquote(parsed.password) if parsed.password is not None else None


async def migrate(admin_url: str) -> list[str]:
    """Apply pending migrations; returns the versions applied."""
    conn = await asyncpg.connect(admin_url)
    applied: list[str] = []
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in migration_files():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            log.info("applied migration %s", version)
            applied.append(version)
    finally:
        await conn.close()
    return applied


async def seal_plaintext_secrets(admin_url: str, box: SecretBox) -> int:
    """Migration 009's second half: seal the webhook secrets still in plain text, then drop their column; how many.

    In one transaction, so a missing or wrong key (``MissingKey`` from the box) leaves the column as it was."""
    conn = await asyncpg.connect(admin_url)
    try:
        present = await conn.fetchval("SELECT 1 FROM information_schema.columns WHERE table_name = 'tenants' "
                                      "AND column_name = 'webhook_secret_plaintext'")
        if not present:
            return 0
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.scope', 'platform', true)")
            rows = await conn.fetch("SELECT tenant_id, webhook_secret_plaintext FROM tenants "
                                    "WHERE webhook_secret_plaintext IS NOT NULL")
            for row in rows:
                await set_tenant(conn, row["tenant_id"])
                await write_secret(conn, box, row["tenant_id"], WEBHOOK, row["webhook_secret_plaintext"])
            await conn.execute("ALTER TABLE tenants DROP COLUMN webhook_secret_plaintext")
        log.info("sealed %d plain-text webhook secrets and dropped their column", len(rows))
        return len(rows)
    finally:
        await conn.close()
