"""Per-tenant webhook secrets, read from ``tenants`` and kept briefly so a busy CRM costs one lookup a minute."""

from __future__ import annotations

import asyncpg
from cachetools import TTLCache

from dealpulse_common.db import tenant_transaction
from dealpulse_ingest import store


class WebhookSecrets:
    def __init__(self, pool: asyncpg.Pool, ttl_s: float) -> None:
        self._pool = pool
        # Unknown tenants are cached too (as None), so a flood of bad deliveries cannot hammer the database.
        self._cache: TTLCache[str, str | None] = TTLCache(maxsize=10_000, ttl=ttl_s)

    async def get(self, tenant_id: str) -> str | None:
        if tenant_id in self._cache:
            return self._cache[tenant_id]
        async with tenant_transaction(self._pool, tenant_id) as conn:
            secret = await store.webhook_secret(conn, tenant_id)
        self._cache[tenant_id] = secret
        return secret
