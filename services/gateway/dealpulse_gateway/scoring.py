"""``POST /v1/deals/score``: synchronous what-if scoring, proxied to the scorer's ``POST /score``.

The gateway owns the token check and the tenant; the scorer owns validation and the answer, whose status and body
pass through unchanged.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import Response

from dealpulse_common.http_auth import CurrentPrincipal
from dealpulse_common.tracing import continue_trace
from dealpulse_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/deals", tags=["scoring"])

SCORER_PATH = "/score"


def make_scorer_client(settings: GatewaySettings) -> httpx.AsyncClient:
    """One pooled client for the whole process: kept-alive connections are what keep the proxy hop cheap."""
    return httpx.AsyncClient(
        base_url=settings.scorer_url,
        timeout=httpx.Timeout(settings.scorer_timeout_s, connect=min(0.5, settings.scorer_timeout_s)),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
    )


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
    settings: GatewaySettings = request.app.state.settings
    client: httpx.AsyncClient = request.app.state.scorer
    # The tenant always comes from the token: a body naming another tenant must not score with its model.
    # The standard library's encoder, as FastAPI decoded the body with it: orjson refuses integers beyond 64 bits,
    # which are the scorer's to refuse (422), not a reason for a 500 here.
    body = json.dumps({**deal, "tenant_id": principal.tenant_id}, separators=(",", ":")).encode()
    headers = {"content-type": "application/json", "traceparent": continue_trace(request.headers.get("traceparent"))}
    try:
        answer = await client.post(SCORER_PATH, content=body, headers=headers)
    except httpx.TransportError as exc:  # refused, timed out, reset: the deal was not scored
        log.warning("scorer unreachable: %r", exc)
        raise HTTPException(503, "scorer unreachable; retry later",
                            headers={"Retry-After": str(settings.retry_after_s)}) from exc
    return Response(content=answer.content, status_code=answer.status_code,
                    media_type=answer.headers.get("content-type", "application/json"))
