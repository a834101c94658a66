"""``POST /v1/deals/score``: synchronous what-if scoring, proxied to the scorer's ``POST /score``.

The gateway owns the token check and the tenant; the scorer owns validation and the answer, whose status and body
pass through unchanged.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response

from dealpulse_common.http_auth import CurrentPrincipal
from dealpulse_gateway import scorer_proxy

router = APIRouter(prefix="/v1/deals", tags=["scoring"])

SCORER_PATH = "/score"


@router.post(
    "/score",
    responses={
        200: {"description": "DealScoredData for the deal as of now (not stored)"},
        401: {"description": "Missing, invalid or expired bearer token (problem details)"},
        422: {"description": "Invalid deal (from the gateway if the body is not an object, else the scorer's)"},
        503: {"description": "Scorer unreachable; retry after Retry-After seconds (problem details)"},
    },
)
async def score_deal(
    request: Request,
    principal: CurrentPrincipal,
    deal: Annotated[dict[str, Any], Body(description="Canonical deal fields; tenant_id is taken from the token")],
) -> Response:
    """Score a deal synchronously with the tenant's active model."""
    # The tenant always comes from the token: a body naming another tenant must not score with its model.
    # The standard library's encoder, as FastAPI decoded the body with it: orjson refuses integers beyond 64 bits,
    # which are the scorer's to refuse (422), not a reason for a 500 here.
    body = json.dumps({**deal, "tenant_id": principal.tenant_id}, separators=(",", ":")).encode()
    return await scorer_proxy.forward(request, "POST", SCORER_PATH, tenant_id=principal.tenant_id, json_body=body)
