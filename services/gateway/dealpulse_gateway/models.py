"""``GET /v1/models/performance``: the model serving the caller's tenant, for the tenant's admins.

The scorer owns the answer (``GET /model/performance``); the gateway owns the token, the role and the tenant, which
comes only from the token.
"""

from __future__ import annotations

import logging

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from dealpulse_common.auth import Role
from dealpulse_common.http_auth import CurrentPrincipal
from dealpulse_common.tracing import continue_trace
from dealpulse_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/models", tags=["models"])

SCORER_PATH = "/model/performance"


@router.get(
    "/performance",
    responses={
        200: {"description": "Active version and scope, training metrics, drift (PSI per feature) of the tenant's "
                             "live traffic, distribution of recent scores by risk category, when it was trained"},
        401: {"description": "Missing, invalid or expired bearer token (problem details)"},
        403: {"description": "The caller is not an admin (problem details)"},
        503: {"description": "Scorer unreachable; retry after Retry-After seconds (problem details)"},
    },
)
async def model_performance(request: Request, principal: CurrentPrincipal) -> Response:
    """How the model serving the caller's tenant performs and drifts (admins only)."""
    if principal.role is not Role.ADMIN:
        raise HTTPException(403, "only a tenant admin may read model performance")
    settings: GatewaySettings = request.app.state.settings
    client: httpx.AsyncClient = request.app.state.scorer
    headers = {"traceparent": continue_trace(request.headers.get("traceparent"))}
    try:
        answer = await client.get(SCORER_PATH, params={"tenant_id": principal.tenant_id}, headers=headers)
    except httpx.TransportError as exc:
        log.warning("scorer unreachable: %r", exc)
        raise HTTPException(503, "scorer unreachable; retry later",
                            headers={"Retry-After": str(settings.retry_after_s)}) from exc
    return Response(content=answer.content, status_code=answer.status_code,
                    media_type=answer.headers.get("content-type", "application/json"))
