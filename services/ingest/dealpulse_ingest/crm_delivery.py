"""The I/O the CRM webhooks share after admission: their tenant's provider settings, and storing a parsed change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request

from dealpulse_common.logging import traceparent_var
from dealpulse_common.tracing import continue_trace
from dealpulse_ingest import store
from dealpulse_ingest.connectors import config
from dealpulse_ingest.connectors.common import ParsedChange, to_generic
from dealpulse_ingest.ingestor import Ingestor
from dealpulse_ingest.tenant_cache import TenantCache


async def provider_config(request: Request, tenant_id: str, provider: str) -> dict[str, Any]:
    """The provider's section of the tenant's settings, cached like webhook secrets (``INGEST_SECRET_CACHE_TTL_S``):
    a busy CRM costs one lookup a minute, and an admin's change shows within that. The cache is created on first
    use so the connectors need nothing from app.py beyond their router."""
    state = request.app.state
    cache: TenantCache[Any] | None = getattr(state, "crm_provider_settings", None)
    if cache is None:
        cache = TenantCache(state.pool, state.settings.secret_cache_ttl_s, store.tenant_settings)
        state.crm_provider_settings = cache
    return config.section(await cache.get(tenant_id), provider)


async def store_change(request: Request, *, provider: str, tenant_id: str, change: ParsedChange,
                       received_at: datetime) -> str:
    """Store and publish through the one ingest path (deletions become tombstones); returns the outcome.

    Raises ``ConnectorError`` for a change the payload model refuses, and ``PublishError`` / a database error
    when nothing was stored and the CRM must retry.
    """
    payload = to_generic(change)
    traceparent = traceparent_var.get() or continue_trace(None)
    ingestor: Ingestor = request.app.state.ingestor
    prepared = await ingestor.prepare(tenant_id, payload, provider=provider, event_id=change.event_id,
                                      traceparent=traceparent, received_at=received_at)
    outcome = await ingestor.ingest(prepared)
    return outcome.value
