"""Per-tenant stage mappings, read from ``tenant_settings`` (the gateway writes them) and kept briefly.

A short cache keeps a busy CRM or a bulk import at one lookup per tenant every few seconds, and an admin's edit
takes effect within that time without any signal between the services.
"""

from __future__ import annotations

import logging

import asyncpg
from cachetools import TTLCache
from pydantic import ValidationError

from dealpulse_common.db import tenant_transaction
from dealpulse_common.stage_mapping import SETTINGS_KEY, StageMappingSettings
from dealpulse_ingest.normalize import EMPTY_MAPPING, StageMapping

log = logging.getLogger(__name__)

READ_MAPPING = f"SELECT settings->'{SETTINGS_KEY}' FROM tenant_settings WHERE tenant_id = $1"


class StageMappings:
    def __init__(self, pool: asyncpg.Pool, ttl_s: float) -> None:
        self._pool = pool
        self._cache: TTLCache[str, StageMapping] = TTLCache(maxsize=10_000, ttl=ttl_s)

    async def get(self, tenant_id: str) -> StageMapping:
        """The tenant's mapping (empty when it has none); raises a database-unavailable error when unreachable."""
        if tenant_id in self._cache:
            return self._cache[tenant_id]
        async with tenant_transaction(self._pool, tenant_id) as conn:
            raw = await conn.fetchval(READ_MAPPING, tenant_id)
        mapping = parse(tenant_id, raw)
        self._cache[tenant_id] = mapping
        return mapping


def parse(tenant_id: str, raw: object) -> StageMapping:
    if raw is None:
        return EMPTY_MAPPING
    try:
        return StageMapping.from_settings(StageMappingSettings.model_validate(raw))
    except ValidationError:
        # The gateway validates what it writes; a hand-edited row must not stop ingestion, so fall back to defaults.
        log.error("tenant %s has an invalid stage mapping; using the defaults", tenant_id)
        return EMPTY_MAPPING
