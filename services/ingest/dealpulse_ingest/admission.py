"""The one admission every webhook passes before its own parser runs, and the record of whatever it refuses.

In order: the tenant (``dealpulse_common.tenancy``'s rule), the content type, a bounded read of the body, the
caller's credentials (any of the secrets ``handlers.accepted_secrets`` allows), whether the tenant is enabled (only
told to a caller who proved it speaks for the tenant), and the tenant's webhook quota (counted only once the caller
proved it speaks for the tenant, so nobody else can use it up; a 429 problem with ``Retry-After`` when it is). A
refusal is a ``Rejected``; the route answers it in its CRM's terms after ``refuse`` counted it in
``dealpulse_webhooks_total`` and dead-lettered it with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from dealpulse_common import metrics
from dealpulse_common.events import DeadLetter, utcnow
from dealpulse_common.kafka import EventPublisher, PublishError
from dealpulse_common.logging import tenant_var, traceparent_var
from dealpulse_common.rate_limits import Quota, count_against
from dealpulse_common.secrets_at_rest import SecretUnreadable
from dealpulse_common.service import ServiceUnavailable, problem
from dealpulse_common.tenancy import TENANT_ID_PATTERN, is_tenant_id
from dealpulse_common.tenant_secrets import TenantKeys
from dealpulse_common.topics import DEAD_LETTERS
from dealpulse_common.tracing import continue_trace
from dealpulse_ingest.connectors.common import AuthError
from dealpulse_ingest.handlers import accepted_secrets
from dealpulse_ingest.signature import SignatureError

log = logging.getLogger(__name__)
SERVICE = "ingest"
JSON_TYPES = ("application/json",)
XML_TYPES = ("text/xml", "application/xml", "application/soap+xml")
# A dead letter carries the original bytes base64-encoded (4/3 larger); past this the broker's default 1 MB
# message limit would refuse the letter itself, so larger originals are truncated (and the letter says so).
DLQ_MAX_ORIGINAL = 512 * 1024
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Tenant disabled", 413: "Payload too large",
          415: "Unsupported media type", 422: "Invalid deal change"}

# Proves the caller speaks for the tenant (tenant id, its webhook secret or None, the body); raises AuthError.
Verifier = Callable[[str, str | None, bytes], Awaitable[None]]


class Rejected(Exception):
    """A delivery refused as a whole: the status, the reason, what the dead letter should carry, and the outcome
    it is counted under."""

    def __init__(self, status: int, reason: str, original: bytes = b"", *, metric: str = "invalid",
                 title: str | None = None, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.original, self.metric = status, reason, original, metric
        self.title = title or TITLES[status]
        self.errors = errors

    def problem(self, headers: dict[str, str] | None = None) -> JSONResponse:
        extensions: dict[str, Any] = {} if self.errors is None else {"errors": self.errors}
        response: JSONResponse = problem(self.status, self.title, self.reason, headers=headers, **extensions)
        return response


@dataclass(frozen=True)
class Webhook:
    """What differs between webhooks before parsing: the provider (metric label, dead-letter topic), the media
    types it reads, and how it refuses a missing or malformed tenant id."""

    provider: str
    content_types: tuple[str, ...]
    bad_tenant: Callable[[str | None], Rejected]


def bad_tenant_query(_: str | None) -> Rejected:
    """The CRMs carry the tenant in the URL they were configured with; without it nobody can be authenticated."""
    return Rejected(401, "missing or invalid tenant query parameter", metric="bad_signature")


def bad_tenant_header(value: str | None) -> Rejected:
    """The generic webhook's tenant header is a declared request field: refused as a field is (422)."""
    field = "header.x-dealpulse-tenant"
    reason = "Field required" if value is None else f"String should match pattern '{TENANT_ID_PATTERN}'"
    return Rejected(422, f"invalid field(s): {field}", title="Invalid request",
                    errors=[{"field": field, "reason": reason}])


async def admit(request: Request, webhook: Webhook, tenant: str | None, verify: Verifier) -> tuple[str, bytes]:
    """The tenant id and the body of a delivery that may be parsed; raises ``Rejected`` otherwise, and a
    database-unavailable error when the tenant's secret cannot be read."""
    if tenant is None or not is_tenant_id(tenant):
        raise webhook.bad_tenant(tenant)
    tenant_var.set(tenant)
    traceparent_var.set(continue_trace(request.headers.get("traceparent")))
    if not _content_type_is(request, webhook.content_types):
        raise Rejected(415, f"content type must be one of {', '.join(webhook.content_types)}", metric="malformed")
    limit: int = request.app.state.settings.max_body_bytes
    try:
        body = await _read_body(request, limit)
    except _BodyTooLarge as exc:
        raise Rejected(413, f"body exceeds {limit} bytes", exc.head, metric="too_large") from None
    keys = await _tenant_keys(request, tenant)
    await _verify_any(verify, tenant, accepted_secrets(keys, webhook.provider, utcnow()), body)
    if keys is not None and keys.disabled:
        raise Rejected(403, "this tenant is disabled: its deliveries are refused", body, metric="disabled")
    quota = request.app.state.settings.rate_limit_webhooks_per_tenant
    await count_against(request, [Quota.of("webhooks", quota, tenant)])
    return tenant, body


async def _tenant_keys(request: Request, tenant: str) -> TenantKeys | None:
    try:
        keys: TenantKeys | None = await request.app.state.secrets.get(tenant)
    except SecretUnreadable as exc:
        # An operator dropped a key still in use: the CRM retries (nothing is lost) until the key is back.
        log.error("cannot open the secrets of tenant %s: %s", tenant, exc)
        raise ServiceUnavailable("this tenant's secrets cannot be read; retry later",
                                 request.app.state.settings.retry_after_s) from None
    return keys


async def _verify_any(verify: Verifier, tenant: str, secrets: list[str], body: bytes) -> None:
    """Admitted when the delivery proves any of ``secrets``; else the first refusal (with none: the verifier's
    own "no secret configured")."""
    first: AuthError | SignatureError | None = None
    for secret in secrets or [None]:
        try:
            await verify(tenant, secret, body)
            return
        except (AuthError, SignatureError) as exc:
            first = first or exc
    raise Rejected(401, str(first), body, metric="bad_signature")


async def refuse(request: Request, webhook: Webhook, tenant: str | None, exc: Rejected) -> None:
    """Count the refusal and keep it in dlq.v1; the route then answers it."""
    metrics.WEBHOOKS.labels(webhook.provider, exc.metric).inc()
    await dead_letter(request, provider=webhook.provider, tenant_id=tenant, reason=exc.reason, original=exc.original)


async def dead_letter(request: Request, *, provider: str, tenant_id: str | None, reason: str, original: bytes,
                      deal_id: str | None = None) -> None:
    """Record a rejected delivery (or one rejected event of it) in dlq.v1 with its reason; a broker outage must
    not change the CRM's answer."""
    publisher: EventPublisher = request.app.state.publisher
    truncated = len(original) > DLQ_MAX_ORIGINAL
    error = f"{provider} webhook rejected: {reason}" + (" (original truncated)" if truncated else "")
    tenant = tenant_id if is_tenant_id(tenant_id) else "unknown"
    letter = DeadLetter.of(
        service=SERVICE, original_topic=f"webhook:{provider}", original_key=f"{tenant}:{deal_id or 'unknown'}",
        original=original[:DLQ_MAX_ORIGINAL], error=error, tenant_id=tenant, deal_id=deal_id,
        traceparent=traceparent_var.get())
    try:
        await publisher.publish(DEAD_LETTERS, letter)
        metrics.DEAD_LETTERS.labels(SERVICE, f"webhook:{provider}").inc()
    except PublishError:
        log.warning("could not dead-letter a rejected %s delivery: %s", provider, reason)


class _BodyTooLarge(Exception):
    def __init__(self, head: bytes) -> None:
        super().__init__("body too large")
        self.head = head


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, without ever buffering more than ``limit`` bytes of it (a lying Content-Length included)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge(b"")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge(b"".join(chunks)[:DLQ_MAX_ORIGINAL])
        chunks.append(chunk)
    return b"".join(chunks)


def _content_type_is(request: Request, allowed: tuple[str, ...]) -> bool:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type in allowed
