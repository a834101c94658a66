"""The gateway's one client of the scorer: a request forwarded with the caller's trace and request id and a service
credential naming the caller's tenant, its answer passed through.

The gateway owns the token, the role and the tenant; the scorer owns validation and the answer, whose status, body
and content type reach the caller unchanged.
"""

from __future__ import annotations

import logging

import httpx
from fastapi import Request
from fastapi.responses import Response

from dealpulse_common.logging import request_id_var
from dealpulse_common.request_ids import HEADER as REQUEST_ID_HEADER
from dealpulse_common.service import ServiceUnavailable
from dealpulse_common.service_auth import issue_service_credential
from dealpulse_common.tracing import continue_trace
from dealpulse_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


def make_scorer_client(settings: GatewaySettings) -> httpx.AsyncClient:
    """One pooled client for the whole process: kept-alive connections are what keep the proxy hop cheap."""
    return httpx.AsyncClient(
        base_url=settings.scorer_url,
        timeout=httpx.Timeout(settings.scorer_timeout_s, connect=min(0.5, settings.scorer_timeout_s)),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
    )


SCORER = "scorer"


async def forward(request: Request, method: str, path: str, *, tenant_id: str,
                  params: dict[str, str] | None = None, json_body: bytes | None = None) -> Response:
    """Send ``method path`` to the scorer on behalf of ``request``, whose caller ``tenant_id`` verified; an
    unreachable scorer is a 503."""
    settings: GatewaySettings = request.app.state.settings
    client: httpx.AsyncClient = request.app.state.scorer
    credential = issue_service_credential(settings.service_secret, caller=settings.service_name, audience=SCORER,
                                          tenant_id=tenant_id)
    headers = {"traceparent": continue_trace(request.headers.get("traceparent")),
               "authorization": f"Bearer {credential}"}
    if (request_id := request_id_var.get()) is not None:
        headers[REQUEST_ID_HEADER] = request_id  # one id in the logs of both services
    if json_body is not None:
        headers["content-type"] = "application/json"
    try:
        answer = await client.request(method, path, params=params, content=json_body, headers=headers)
    except httpx.TransportError as exc:  # refused, timed out, reset: the scorer did nothing for this request
        log.warning("scorer unreachable: %r", exc)
        raise ServiceUnavailable("scorer unreachable; retry later", settings.retry_after_s) from exc
    return Response(content=answer.content, status_code=answer.status_code,
                    media_type=answer.headers.get("content-type", "application/json"))
