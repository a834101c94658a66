"""The steps that bring an empty environment to a working one: database, migrations, a tenant, an active model."""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg

from dealpulse_cli.migrate import app_credentials, ensure_database, migrate, seal_plaintext_secrets
from dealpulse_cli.stack import APP_ROLE
from dealpulse_common import tenant_secrets
from dealpulse_common.secrets_at_rest import SecretBox
from dealpulse_common.settings import ServiceSettings

log = logging.getLogger(__name__)

DEMO_TENANT = "demo"
DEMO_WEBHOOK_SECRET = "demo-webhook-secret"  # development only; printed in README.md on purpose
DEMO_MODEL_DEALS = 20_000  # synthetic deals behind the demo model trained when a registry has none


def secret_box() -> SecretBox:
    """The box of ``DEALPULSE_SECRETS_KEYS`` (the development key in the embedded stack and ``make run``)."""
    return SecretBox(ServiceSettings().secrets_keys)


async def prepare_database(admin_url: str, app_url: str) -> list[str]:
    """The database, the application role with the password ``app_url`` (the services' ``DATABASE_URL``) carries,
    every migration, no webhook secret left in plain text, and every stored secret sealed with the first key of
    ``DEALPULSE_SECRETS_KEYS`` (so re-running the migrate Job is the re-encryption step of a key rotation)."""
    await ensure_database(admin_url, APP_ROLE, app_credentials(app_url, APP_ROLE))
    applied = await migrate(admin_url)
    box = secret_box()
    await seal_plaintext_secrets(admin_url, box)
    await reseal_secrets(admin_url, box)
    return applied


async def reseal_secrets(database_url: str, box: SecretBox) -> int:
    """Every stored secret sealed again with the box's first key, all or nothing; how many."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            return await tenant_secrets.reseal_all(conn, box)
    finally:
        await conn.close()


async def ensure_tenant(admin_url: str, tenant_id: str, name: str, webhook_secret: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        async with conn.transaction():
            await tenant_secrets.ensure_tenant(conn, secret_box(), tenant_id, name, webhook_secret)
    finally:
        await conn.close()


def ensure_model(registry_root: Path, n_deals: int = DEMO_MODEL_DEALS) -> str:
    """The active global model's version, training and promoting a demo model first when there is none."""
    from dealpulse_scorer.model import ModelRegistry
    from dealpulse_scorer.training.train import train_and_promote_demo

    registry = ModelRegistry(registry_root)
    active = registry.active_version()
    if active:
        return active
    log.info("no active model: training a demo model on %d synthetic deals", n_deals)
    return train_and_promote_demo(registry_root, registry_root / "demo-data", n_deals=n_deals)

