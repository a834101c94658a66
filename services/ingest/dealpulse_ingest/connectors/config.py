"""Per-tenant CRM configuration from ``tenant_settings`` (owned by the gateway), cached briefly.

Keys: ``settings.salesforce`` {organization_id, field_map}, ``settings.hubspot`` {stage_map, field_map,
portal_id}, ``settings.pipedrive`` {stage_map, field_map}.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from cachetools import TTLCache

from dealpulse_common.db import tenant_transaction

PROVIDERS = ("salesforce", "hubspot", "pipedrive")
_QUERY = "SELECT settings FROM tenant_settings WHERE tenant_id = $1"


class ProviderSettings:
    def __init__(self, pool: asyncpg.Pool, ttl_s: float) -> None:
        self._pool = pool
        # Like WebhookSecrets: a busy CRM costs one lookup a minute, and an admin's change shows within that.
        self._cache: TTLCache[str, dict[str, Any]] = TTLCache(maxsize=10_000, ttl=ttl_s)

    async def get(self, tenant_id: str, provider: str) -> dict[str, Any]:
        """The provider's section of the tenant's settings; empty when absent or not an object."""
        if tenant_id not in self._cache:
            async with tenant_transaction(self._pool, tenant_id) as conn:
                settings = await conn.fetchval(_QUERY, tenant_id)
            self._cache[tenant_id] = settings if isinstance(settings, dict) else {}
        section = self._cache[tenant_id].get(provider)
        return dict(section) if isinstance(section, dict) else {}
