"""Per-tenant CRM configuration from ``tenant_settings`` (owned by the gateway), read through a ``TenantCache``.

Keys: ``settings.salesforce`` {organization_id, field_map}, ``settings.hubspot`` {stage_map, field_map,
portal_id}, ``settings.pipedrive`` {stage_map, field_map}.
"""

from __future__ import annotations

from typing import Any

import asyncpg

PROVIDERS = ("salesforce", "hubspot", "pipedrive")
_QUERY = "SELECT settings FROM tenant_settings WHERE tenant_id = $1"


async def load(conn: asyncpg.Connection, tenant_id: str) -> dict[str, Any]:
    """The tenant's whole settings document (empty when absent or not an object): the loader of the cache."""
    settings = await conn.fetchval(_QUERY, tenant_id)
    return settings if isinstance(settings, dict) else {}


def section(settings: dict[str, Any], provider: str) -> dict[str, Any]:
    """The provider's section of a tenant's settings; empty when absent or not an object."""
    value = settings.get(provider)
    return dict(value) if isinstance(value, dict) else {}
