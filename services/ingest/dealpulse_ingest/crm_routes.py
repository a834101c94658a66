"""CRM webhooks: Salesforce Outbound Messages, HubSpot deal webhooks and Pipedrive v2 deal webhooks.

Each answers in its CRM's terms (a SOAP ack or fault, per-event results, status codes), stores every change
through ``Ingestor``, and records whatever it rejects in dlq.v1 with the reason. The tenant is the ``tenant``
query parameter of the URL configured in the CRM.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from dealpulse_common import metrics
from dealpulse_common.db import DATABASE_UNAVAILABLE
from dealpulse_common.events import utcnow
from dealpulse_common.kafka import PublishError
from dealpulse_common.service import unavailable
from dealpulse_ingest.admission import (
    JSON_TYPES,
    XML_TYPES,
    Rejected,
    Webhook,
    admit,
    bad_tenant_query,
    refuse,
)
from dealpulse_ingest.connectors import hubspot, pipedrive, salesforce
from dealpulse_ingest.connectors.common import AuthError, ConnectorError, MalformedError
from dealpulse_ingest.crm_delivery import provider_config, reject_event, store_change, store_in_batch

log = logging.getLogger(__name__)
router = APIRouter(tags=["CRM webhooks"])
TenantParam = Annotated[str | None, Query(description="Tenant id, part of the webhook URL configured in the CRM")]
SALESFORCE = Webhook("salesforce", XML_TYPES, bad_tenant_query)
HUBSPOT = Webhook("hubspot", JSON_TYPES, bad_tenant_query)
PIPEDRIVE = Webhook("pipedrive", JSON_TYPES, bad_tenant_query)


# --- Salesforce ---------------------------------------------------------------------------------------------


def _soap(body: bytes, status: int = 200, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return Response(body, status_code=status, media_type=salesforce.SOAP_CONTENT_TYPE, headers=headers)


@router.post("/v1/webhooks/salesforce", responses={
    200: {"description": "SOAP acknowledgement (<Ack>true</Ack>): every notification stored or dead-lettered"},
    500: {"description": "SOAP fault; Salesforce keeps the message and retries"}})
async def salesforce_webhook(request: Request, tenant: TenantParam = None,
                             token: Annotated[str | None, Query(description="The tenant's webhook secret")] = None,
                             ) -> Response:
    """Outbound Message of Opportunity changes; authenticated by ``token`` and the message's OrganizationId."""
    received_at = utcnow()

    async def verify(_: str, secret: str | None, __: bytes) -> None:
        salesforce.check_token(secret, token)

    try:
        tenant_id, body = await admit(request, SALESFORCE, tenant, verify)
        config = await provider_config(request, tenant_id, "salesforce")
        try:
            message = salesforce.parse_outbound_message(body, config)
            salesforce.check_organization(config, message.organization_id)
        except AuthError as exc:
            raise Rejected(401, str(exc), body, metric="bad_signature") from None
        except MalformedError as exc:
            raise Rejected(400, str(exc), body, metric="malformed") from None
        for raw, reason in message.rejected:
            await reject_event(request, provider="salesforce", tenant_id=tenant_id, reason=reason, original=raw)
        for change in message.changes:
            await store_in_batch(request, provider="salesforce", tenant_id=tenant_id, change=change,
                                 received_at=received_at)
    except Rejected as exc:
        await refuse(request, SALESFORCE, tenant, exc)
        return _soap(salesforce.fault_response(exc.reason, client_error=True), 500)
    except (PublishError, *DATABASE_UNAVAILABLE):
        # Notifications stored before the failure come back as duplicates on the retry; nothing is lost.
        metrics.WEBHOOKS.labels("salesforce", "unavailable").inc()
        retry = request.app.state.settings.retry_after_s
        return _soap(salesforce.fault_response("temporarily unavailable; nothing lost, retry later",
                                               client_error=False), 500, retry)
    return _soap(salesforce.ack_response())


# --- HubSpot ------------------------------------------------------------------------------------------------


def _signed_uris(request: Request) -> list[str]:
    """The URL HubSpot called: as we see it, and as a TLS-terminating proxy says it was called."""
    uris = [str(request.url)]
    proto, host = request.headers.get("x-forwarded-proto"), request.headers.get("x-forwarded-host")
    if proto or host:
        uris.append(str(request.url.replace(scheme=proto or request.url.scheme,
                                            netloc=host or request.url.netloc)))
    return uris


@router.post("/v1/webhooks/hubspot", responses={
    200: {"description": "Per-event results: accepted, duplicate, stale, ignored or rejected (dead-lettered)"},
    400: {"description": "Not a JSON array of events"}, 401: {"description": "Bad or expired v3 signature"},
    503: {"description": "Broker or database unavailable; HubSpot retries the batch (stored events dedupe)"}})
async def hubspot_webhook(request: Request, tenant: TenantParam = None) -> JSONResponse:
    """A batch of deal events, signed with HubSpot's v3 signature: with the app secret stored with PUT
    /v1/admin/connectors/hubspot, else with the tenant's webhook secret."""
    received_at = utcnow()

    async def verify(_: str, secret: str | None, body: bytes) -> None:
        errors: list[AuthError] = []
        for uri in _signed_uris(request):
            try:
                return hubspot.verify_v3(secret, request.method, uri, body,
                                         request.headers.get("x-hubspot-signature-v3"),
                                         request.headers.get("x-hubspot-request-timestamp"))
            except AuthError as exc:
                errors.append(exc)
        raise errors[0]

    try:
        tenant_id, body = await admit(request, HUBSPOT, tenant, verify)
        config = await provider_config(request, tenant_id, "hubspot")
        try:
            batch = hubspot.parse_batch(body, config)
        except MalformedError as exc:
            raise Rejected(400, str(exc), body, metric="malformed") from None
        results = list(batch.results)
        for result in results:  # decided by the parser: ignored, or rejected (and then kept raw)
            if result.index in batch.raw_rejected:
                await reject_event(request, provider="hubspot", tenant_id=tenant_id, reason=result.reason or "",
                                   original=batch.raw_rejected[result.index])
            else:
                metrics.WEBHOOKS.labels("hubspot", result.status).inc()
        for change in batch.changes:
            outcome, reason = await store_in_batch(request, provider="hubspot", tenant_id=tenant_id, change=change,
                                                   received_at=received_at)
            results += [hubspot.EventResult(i, outcome, reason, change.deal_id) for i in change.indices]
    except Rejected as exc:
        await refuse(request, HUBSPOT, tenant, exc)
        return exc.problem()
    except (PublishError, *DATABASE_UNAVAILABLE):
        return _unavailable(request, "hubspot")
    results.sort(key=lambda r: r.index)
    counts = {s: sum(r.status == s for r in results) for s in {r.status for r in results}}
    return JSONResponse({"results": [r.as_dict() for r in results], "counts": counts})


# --- Pipedrive ----------------------------------------------------------------------------------------------


@router.post("/v1/webhooks/pipedrive", status_code=202, responses={
    200: {"description": "Duplicate, stale or ignored delivery, acknowledged without effect"},
    400: {"description": "Not JSON"}, 401: {"description": "Bad HTTP Basic credentials"},
    422: {"description": "Not a deal event or invalid deal fields (dead-lettered)"},
    503: {"description": "Broker or database unavailable; Pipedrive retries"}})
async def pipedrive_webhook(request: Request, tenant: TenantParam = None) -> JSONResponse:
    """One deal event (webhooks v2), with HTTP Basic auth: the credentials stored with PUT
    /v1/admin/connectors/pipedrive, else user = tenant id and password = webhook secret."""
    received_at = utcnow()

    async def verify(tenant_id: str, secret: str | None, _: bytes) -> None:
        user = (await provider_config(request, tenant_id, "pipedrive")).get("username") or tenant_id
        pipedrive.check_basic_auth(request.headers.get("authorization"), str(user), secret)

    try:
        tenant_id, body = await admit(request, PIPEDRIVE, tenant, verify)
        config = await provider_config(request, tenant_id, "pipedrive")
        try:
            change = pipedrive.parse_event(body, config)
            outcome = await store_change(request, provider="pipedrive", tenant_id=tenant_id, change=change,
                                         received_at=received_at)
        except MalformedError as exc:
            raise Rejected(400, str(exc), body, metric="malformed") from None
        except ConnectorError as exc:
            raise Rejected(422, str(exc), body) from None
    except Rejected as exc:
        await refuse(request, PIPEDRIVE, tenant, exc)
        return exc.problem(headers={"WWW-Authenticate": 'Basic realm="dealpulse"'} if exc.status == 401 else None)
    except (PublishError, *DATABASE_UNAVAILABLE):
        return _unavailable(request, "pipedrive")
    metrics.WEBHOOKS.labels("pipedrive", outcome).inc()
    return JSONResponse({"status": outcome, "event_id": change.event_id, "deal_id": change.deal_id},
                        status_code=202 if outcome == "accepted" else 200)


def _unavailable(request: Request, provider: str) -> JSONResponse:
    metrics.WEBHOOKS.labels(provider, "unavailable").inc()
    return unavailable("event broker or database unavailable; retry later", request.app.state.settings.retry_after_s)
