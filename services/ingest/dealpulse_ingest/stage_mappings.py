"""Per-tenant stage mappings, read from ``tenant_settings`` (the gateway writes them) through a ``TenantCache``
of a few seconds (``INGEST_STAGE_MAPPING_CACHE_TTL_S``), so an admin's edit applies to changes received from then
on."""

from __future__ import annotations

import logging

import asyncpg
from pydantic import ValidationError

from dealpulse_common.stage_mapping import StageMappingSettings
from dealpulse_ingest import store
from dealpulse_ingest.normalize import EMPTY_MAPPING, StageMapping

log = logging.getLogger(__name__)

async def load(conn: asyncpg.Connection, tenant_id: str) -> StageMapping:
    """The tenant's mapping (empty when it has none): the loader of the stage-mapping cache."""
    return parse(tenant_id, await store.stage_mapping_settings(conn, tenant_id))


def parse(tenant_id: str, raw: object) -> StageMapping:
    if raw is None:
        return EMPTY_MAPPING
    try:
        return StageMapping.from_settings(StageMappingSettings.model_validate(raw))
    except ValidationError:
        # The gateway validates what it writes; a hand-edited row must not stop ingestion, so fall back to defaults.
        log.error("tenant %s has an invalid stage mapping; using the defaults", tenant_id)
        return EMPTY_MAPPING
