"""The steps that bring an empty environment to a working one: database, migrations, a tenant, an active model."""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg

from dealpulse_cli.migrate import app_credentials, ensure_database, migrate
from dealpulse_cli.stack import APP_ROLE

log = logging.getLogger(__name__)

DEMO_TENANT = "demo"
DEMO_WEBHOOK_SECRET = "demo-webhook-secret"  # development only; printed in README.md on purpose
DEMO_MODEL_DEALS = 20_000  # synthetic deals behind the demo model trained when a registry has none


async def prepare_database(admin_url: str, app_url: str) -> list[str]:
    """The database, the application role with the password ``app_url`` (the services' ``DATABASE_URL``) carries,
    and every migration."""
    await ensure_database(admin_url, APP_ROLE, app_credentials(app_url, APP_ROLE))
    return await migrate(admin_url)


async def ensure_tenant(admin_url: str, tenant_id: str, name: str, webhook_secret: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(
            "INSERT INTO tenants (tenant_id, name, webhook_secret) VALUES ($1, $2, $3) "
            "ON CONFLICT (tenant_id) DO UPDATE SET webhook_secret = EXCLUDED.webhook_secret",
            tenant_id, name, webhook_secret,
        )
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

