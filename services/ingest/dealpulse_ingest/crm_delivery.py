"""The I/O the CRM webhooks share after admission: their tenant's provider settings, storing a parsed change, and
keeping one refused event of a batch apart from its neighbours."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request

from dealpulse_common import metrics
from dealpulse_common.logging import traceparent_var
from dealpulse_common.tenant_cache import TenantCache
from dealpulse_common.tracing import continue_trace
from dealpulse_ingest import store
from dealpulse_ingest.admission import dead_letter
from dealpulse_ingest.connectors import config
from dealpulse_ingest.connectors.common import ConnectorError, ParsedChange, to_generic
from dealpulse_ingest.ingestor import Ingestor


async def provider_config(request: Request, tenant_id: str, provider: str) -> dict[str, Any]:
    """The provider's section of the tenant's settings, cached like webhook secrets (``INGEST_SECRET_CACHE_TTL_S``):
    a busy CRM costs one lookup every few seconds, and an admin's change shows within that. The cache is created on
    first use so the connectors need nothing from app.py beyond their router."""
    state = request.app.state
    cache: TenantCache[Any] | None = getattr(state, "crm_provider_settings", None)
    if cache is None:
        cache = TenantCache(state.settings.secret_cache_ttl_s, store.tenant_settings, pool=state.pool)
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


async def store_in_batch(request: Request, *, provider: str, tenant_id: str, change: ParsedChange,
                         received_at: datetime) -> tuple[str, str | None]:
    """``store_change`` for one change of a batch, counted: its outcome, or "rejected" and the reason when the
    payload model refuses it. A refused change is dead-lettered alone and its neighbours go on: the CRM would
    re-send the whole batch for a day, and the change would never get better.

    Raises ``PublishError`` / a database error like ``store_change``.
    """
    try:
        outcome = await store_change(request, provider=provider, tenant_id=tenant_id, change=change,
                                     received_at=received_at)
    except ConnectorError as exc:
        await reject_event(request, provider=provider, tenant_id=tenant_id, reason=str(exc), original=change.raw,
                           deal_id=change.deal_id)
        return "rejected", str(exc)
    metrics.WEBHOOKS.labels(provider, outcome).inc()
    return outcome, None


async def reject_event(request: Request, *, provider: str, tenant_id: str, reason: str, original: bytes,
                       deal_id: str | None = None) -> None:
    """One event of a batch refused on its own: counted as invalid and kept in dlq.v1 with the reason."""
    metrics.WEBHOOKS.labels(provider, "invalid").inc()
    await dead_letter(request, provider=provider, tenant_id=tenant_id, reason=reason, original=original,
                      deal_id=deal_id)
