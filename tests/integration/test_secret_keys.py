"""Secrets at rest under a key rotation: a secret sealed with a key the services do not hold is refused as
unavailable (503, the CRM retries; nothing is guessed), ``dealpulse tenant reencrypt`` (docs/OPERATIONS.md, "Rotate
secrets") seals everything again with the first key so the services open it, and a run without the key a secret
needs changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
from cryptography.fernet import Fernet

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
