"""``GET /v1/models/performance``: the model serving the caller's tenant, for the tenant's admins.

The scorer owns the answer (``GET /model/performance``); the gateway owns the token, the role and the tenant, which
comes only from the token.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dealpulse_common.http_auth import CurrentAdmin
from dealpulse_gateway import scorer_proxy

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
async def model_performance(request: Request, principal: CurrentAdmin) -> Response:
    """How the model serving the caller's tenant performs and drifts (admins only)."""
    return await scorer_proxy.forward(request, "GET", SCORER_PATH, tenant_id=principal.tenant_id,
                                      params={"tenant_id": principal.tenant_id})
