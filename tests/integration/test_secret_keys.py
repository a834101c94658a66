"""Secrets at rest under a key rotation: a secret sealed with a key the services do not hold is refused as
unavailable (503, the CRM retries; nothing is guessed), ``dealpulse tenant reencrypt`` (docs/OPERATIONS.md, "Rotate
secrets") seals everything again with the first key so the services open it, a run without the key a secret
needs changes nothing, and `dealpulse migrate` seals the plain-text secrets a database from before 009 holds."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import asyncpg
from cryptography.fernet import Fernet

from dealpulse_cli.migrate import migrate, migration_files, seal_plaintext_secrets
from dealpulse_common import tenant_secrets
from dealpulse_common.secrets_at_rest import SecretBox
from dealpulse_common.settings import ServiceSettings
from tests.support import RunningSystem, deal_change

DEALPULSE = Path(sys.executable).parent / "dealpulse"


def _reencrypt(system: RunningSystem, keys: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": system.stack.env()["DATABASE_URL"], "DEALPULSE_SECRETS_KEYS": keys}
    return subprocess.run([str(DEALPULSE), "tenant", "reencrypt"], env=env, capture_output=True, text=True,
                          timeout=60)


async def _sealed(system: RunningSystem, tenant_id: str) -> str:
    [row] = await system.admin_fetch("SELECT sealed FROM tenant_secrets WHERE tenant_id = $1 AND name = 'webhook'",
                                     tenant_id)
    return str(row["sealed"])


async def test_reencrypt_seals_with_the_first_key_or_changes_nothing(system: RunningSystem) -> None:
    tenant = await system.new_tenant("keys", register=False)
    retired_key = Fernet.generate_key().decode()
    conn = await asyncpg.connect(system.stack.admin_database_url)
    try:
        async with conn.transaction():
            await tenant_secrets.ensure_tenant(conn, SecretBox(retired_key), tenant.tenant_id, "Keys",
                                               tenant.webhook_secret)
    finally:
        await conn.close()

    unreadable = await system.send_change(tenant, deal_change("D-1", "2026-11-20T10:00:00Z"))
    assert unreadable.status_code == 503 and "Retry-After" in unreadable.headers, unreadable.text
    assert tenant.webhook_secret not in unreadable.text

    sealed_before = await _sealed(system, tenant.tenant_id)
    without_the_key = _reencrypt(system, Fernet.generate_key().decode())
    assert without_the_key.returncode == 2 and "nothing changed" in without_the_key.stderr, without_the_key
    assert await _sealed(system, tenant.tenant_id) == sealed_before

    service_key = ServiceSettings().secrets_keys
    rotated = _reencrypt(system, f"{service_key},{retired_key}")
    assert rotated.returncode == 0 and "re-encrypted" in rotated.stdout, rotated
    assert SecretBox(service_key).open(await _sealed(system, tenant.tenant_id)) == tenant.webhook_secret
    accepted = await system.send_change(tenant, deal_change("D-1", "2026-11-20T10:00:00Z"))
    assert accepted.status_code == 202, accepted.text


async def test_migrate_seals_the_plain_text_webhook_secrets_of_an_older_database(system: RunningSystem) -> None:
    """A database migrated before 009 (here a new one beside the suite's) keeps its tenants' secrets, sealed."""
    database = f"before009_{uuid.uuid4().hex[:8]}"
    admin_url = urlunparse(urlparse(system.stack.admin_database_url)._replace(path=f"/{database}"))
    await system.admin_fetch(f'CREATE DATABASE "{database}"')
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY, "
                           "applied_at timestamptz NOT NULL DEFAULT now())")
        for version, sql in migration_files():
            if version < "009":
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
        await conn.execute("INSERT INTO tenants (tenant_id, name, webhook_secret) "
                           "VALUES ('old', 'Old', 'plain-s3cret')")
        key = Fernet.generate_key().decode()
        applied = await migrate(admin_url)
        assert applied[0] == "009_tenant_secrets" and applied == sorted(v for v, _ in migration_files() if v >= "009")
        assert await seal_plaintext_secrets(admin_url, SecretBox(key)) == 1
        assert await seal_plaintext_secrets(admin_url, SecretBox(key)) == 0  # the column is gone: nothing to do
        [row] = await conn.fetch("SELECT name, sealed FROM tenant_secrets WHERE tenant_id = 'old'")
        assert row["name"] == "webhook" and "plain-s3cret" not in row["sealed"]
        assert SecretBox(key).open(row["sealed"]) == "plain-s3cret"
        assert await conn.fetch("SELECT 1 FROM information_schema.columns WHERE table_name = 'tenants' "
                                "AND column_name LIKE 'webhook_secret%'") == []
    finally:
        await conn.close()
        await system.admin_fetch(f'DROP DATABASE "{database}"')
