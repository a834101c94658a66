"""The I/O the CRM webhooks share: bounded body reads, storing a parsed change, and dead-lettering rejections."""

from __future__ import annotations

import logging
import re
from datetime import datetime

from fastapi import Request

from dealpulse_common import metrics
from dealpulse_common.events import DeadLetter
from dealpulse_common.kafka import EventPublisher, PublishError
from dealpulse_common.logging import traceparent_var
from dealpulse_common.topics import DEAD_LETTERS
from dealpulse_common.tracing import continue_trace
from dealpulse_ingest.connectors.common import ParsedChange, to_generic
from dealpulse_ingest.connectors.config import ProviderSettings
from dealpulse_ingest.handlers import Ingestor

log = logging.getLogger(__name__)
SERVICE = "ingest"
TENANT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# A dead letter carries the original bytes base64-encoded (4/3 larger); past this the broker's default 1 MB
# message limit would refuse the letter itself, so larger originals are truncated (and the letter says so).
DLQ_MAX_ORIGINAL = 512 * 1024


class BodyTooLarge(Exception):
    def __init__(self, head: bytes) -> None:
        super().__init__("body too large")
        self.head = head


def valid_tenant(tenant: str | None) -> str | None:
    return tenant if tenant and TENANT_RE.match(tenant) else None


async def read_body(request: Request, limit: int) -> bytes:
    """The body, without ever buffering more than ``limit`` bytes of it (a lying Content-Length included)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(b"")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(b"".join(chunks)[:DLQ_MAX_ORIGINAL])
        chunks.append(chunk)
    return b"".join(chunks)


def content_type_is(request: Request, allowed: tuple[str, ...]) -> bool:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type in allowed


def provider_settings(request: Request) -> ProviderSettings:
    """Created on first use so the connectors need nothing from app.py beyond their router."""
    state = request.app.state
    cache: ProviderSettings | None = getattr(state, "crm_provider_settings", None)
    if cache is None:
        cache = ProviderSettings(state.pool, state.settings.secret_cache_ttl_s)
        state.crm_provider_settings = cache
    return cache


async def dead_letter(request: Request, *, provider: str, tenant_id: str | None, reason: str, original: bytes,
                      deal_id: str | None = None) -> None:
    """Record a rejected delivery in dlq.v1 with its reason; a broker outage must not change the CRM's answer."""
    publisher: EventPublisher = request.app.state.publisher
    truncated = len(original) > DLQ_MAX_ORIGINAL
    error = f"{provider} webhook rejected: {reason}" + (" (original truncated)" if truncated else "")
    tenant = valid_tenant(tenant_id) or "unknown"
    letter = DeadLetter.of(
        service=SERVICE, original_topic=f"webhook:{provider}", original_key=f"{tenant}:{deal_id or 'unknown'}",
        original=original[:DLQ_MAX_ORIGINAL], error=error, tenant_id=tenant, deal_id=deal_id,
        traceparent=traceparent_var.get())
    try:
        await publisher.publish(DEAD_LETTERS, letter)
        metrics.DEAD_LETTERS.labels(SERVICE, f"webhook:{provider}").inc()
    except PublishError:
        log.warning("could not dead-letter a rejected %s delivery: %s", provider, reason)


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
