"""The generic webhook: admit (tenant header, JSON only, bounded body, signature), validate, ingest, answer."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from dealpulse_common import metrics
from dealpulse_common.db import DATABASE_UNAVAILABLE
from dealpulse_common.events import utcnow
from dealpulse_common.kafka import PublishError
from dealpulse_common.logging import traceparent_var
from dealpulse_common.service import unavailable
from dealpulse_common.tracing import continue_trace
from dealpulse_ingest.admission import JSON_TYPES, Rejected, Webhook, admit, bad_tenant_header, refuse
from dealpulse_ingest.handlers import Outcome, event_id_for
from dealpulse_ingest.ingestor import Ingestor
from dealpulse_ingest.payloads import GenericDealChange
from dealpulse_ingest.signature import SignatureError, verify

log = logging.getLogger(__name__)
router = APIRouter()
GENERIC = Webhook("generic", JSON_TYPES, bad_tenant_header)
SCHEMA_REFS = "#/components/schemas/"


def document_read_bodies(app: FastAPI) -> None:
    """Put the models of bodies a route reads itself (to check a signature first) into ``app``'s OpenAPI
    components, with the models they refer to: FastAPI lists only the models of parameters it parses."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            schema = GenericDealChange.model_json_schema(ref_template=SCHEMA_REFS + "{model}")
            components = document.setdefault("components", {}).setdefault("schemas", {})
            components.update({**schema.pop("$defs", {}), "GenericDealChange": schema})
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


@router.post(
    "/v1/webhooks/generic",
    status_code=202,
    responses={200: {"description": "Duplicate or stale delivery, acknowledged without effect"},
               401: {"description": "Bad, missing or expired signature"},
               413: {"description": "Body larger than INGEST_MAX_BODY_BYTES"},
               415: {"description": "Not application/json"},
               422: {"description": "Invalid deal change"},
               503: {"description": "Broker or database unavailable; retry after Retry-After seconds"}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"{SCHEMA_REFS}GenericDealChange"}}}}},
)
async def generic_webhook(
    request: Request,
    x_dealpulse_tenant: Annotated[str | None, Header(description="The tenant id (required)")] = None,
    x_dealpulse_signature: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    """Accept one canonical deal change (full or partial), signed with the tenant's webhook secret."""
    received_at = utcnow()
    settings = request.app.state.settings

    async def verify_signature(_: str, secret: str | None, body: bytes) -> None:
        if secret is None:
            raise SignatureError("unknown tenant or no webhook secret configured")
        verify(secret, body, x_dealpulse_signature, settings.signature_tolerance_s)

    ingestor: Ingestor = request.app.state.ingestor
    try:
        tenant_id, body = await admit(request, GENERIC, x_dealpulse_tenant, verify_signature)
        payload = _parse(body)
        change = await ingestor.prepare(
            tenant_id, payload, provider="generic",
            event_id=event_id_for(tenant_id, idempotency_key or payload.event_id, body),
            traceparent=traceparent_var.get() or continue_trace(None), received_at=received_at)
        outcome = await ingestor.ingest(change)
    except Rejected as exc:
        await refuse(request, GENERIC, x_dealpulse_tenant, exc)
        return exc.problem()
    except PublishError:
        log.warning("broker did not acknowledge; asking the CRM to retry")
        return _unavailable(settings.retry_after_s, "event broker unavailable")
    except DATABASE_UNAVAILABLE:
        return _unavailable(settings.retry_after_s, "database unavailable")
    metrics.WEBHOOKS.labels("generic", outcome.value).inc()
    status = 202 if outcome is Outcome.ACCEPTED else 200
    return JSONResponse({"status": outcome.value, "event_id": change.event_id, "deal_id": change.deal_id},
                        status_code=status, headers={"traceparent": change.traceparent})


def _parse(body: bytes) -> GenericDealChange:
    try:
        return GenericDealChange.model_validate(orjson.loads(body))
    except orjson.JSONDecodeError as exc:
        raise Rejected(400, f"body is not valid JSON: {exc}", body, metric="malformed") from None
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()]
        detail = "invalid field(s): " + ", ".join(e["field"] for e in errors)
        raise Rejected(422, detail, body, errors=errors) from None


def _unavailable(retry_after_s: int, detail: str) -> JSONResponse:
    metrics.WEBHOOKS.labels("generic", "unavailable").inc()
    return unavailable(f"{detail}; nothing was stored, retry later", retry_after_s)
