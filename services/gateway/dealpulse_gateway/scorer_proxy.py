"""The gateway's one client of the scorer: a request forwarded with the caller's trace and request id and a service
credential naming the caller's tenant, its answer passed through.

The gateway owns the token, the role and the tenant; the scorer owns validation and the answer, whose status, body
and content type reach the caller unchanged.
"""

from __future__ import annotations

import logging

import aiohttp
from fastapi import Request
from fastapi.responses import Response

from dealpulse_common.logging import request_id_var
from dealpulse_common.request_ids import HEADER as REQUEST_ID_HEADER
from dealpulse_common.service import ServiceUnavailable
from dealpulse_common.service_auth import issue_service_credential
from dealpulse_common.tracing import continue_trace
from dealpulse_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


def make_scorer_client(settings: GatewaySettings) -> aiohttp.ClientSession:
    """One pooled session for the whole process (made in the running loop): kept-alive connections keep the proxy
    hop cheap. aiohttp rather than httpx: httpx's client was a third of the gateway's CPU per synchronous score
    (docs/BENCHMARKS.md, sync-score)."""
    return aiohttp.ClientSession(
        base_url=settings.scorer_url,
        timeout=aiohttp.ClientTimeout(total=settings.scorer_timeout_s, connect=min(0.5, settings.scorer_timeout_s)),
        connector=aiohttp.TCPConnector(limit=100),
    )


SCORER = "scorer"


async def forward(request: Request, method: str, path: str, *, tenant_id: str,
                  params: dict[str, str] | None = None, json_body: bytes | None = None) -> Response:
    """Send ``method path`` to the scorer on behalf of ``request``, whose caller ``tenant_id`` verified; an
    unreachable scorer is a 503."""
    settings: GatewaySettings = request.app.state.settings
    client: aiohttp.ClientSession = request.app.state.scorer
    credential = issue_service_credential(settings.service_secret, caller=settings.service_name, audience=SCORER,
                                          tenant_id=tenant_id)
    headers = {"traceparent": continue_trace(request.headers.get("traceparent")),
               "authorization": f"Bearer {credential}"}
    if (request_id := request_id_var.get()) is not None:
        headers[REQUEST_ID_HEADER] = request_id  # one id in the logs of both services
    if json_body is not None:
        headers["content-type"] = "application/json"
    try:
        async with client.request(method, path, params=params, data=json_body, headers=headers) as answer:
            content = await answer.read()
    except (aiohttp.ClientError, TimeoutError) as exc:  # refused, timed out, reset: nothing to answer with
        log.warning("scorer unreachable: %r", exc)
        raise ServiceUnavailable("scorer unreachable; retry later", settings.retry_after_s) from exc
    return Response(content=content, status_code=answer.status,
                    media_type=answer.headers.get("content-type", "application/json"))
