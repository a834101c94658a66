"""No route of any service answers without a verified caller, except probes, metrics, the API documents, the
dashboard's files and the webhooks that check a signature of their own; the scorer answers only the gateway's
service credential, and only for the tenant that credential names."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts

from dealpulse_alerts.app import create_app as alerts_app
from dealpulse_common.http_auth import current_principal, current_service
from dealpulse_gateway.app import create_app as gateway_app
from dealpulse_ingest.app import create_app as ingest_app
from dealpulse_scorer.app import create_app as scorer_app
from dealpulse_verdict.app import create_app as verdict_app
from tests.support import RunningSystem, scorer_credential

APPS: dict[str, Callable[[], FastAPI]] = {"ingest": ingest_app, "scorer": scorer_app, "verdict": verdict_app,
                                          "alerts": alerts_app, "gateway": gateway_app}
PROBES = {"/healthz", "/readyz", "/metrics"}
DOCUMENTS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
# Each checks who is calling itself: a CRM's signature or token, Slack's signature, the WebSocket's token.
SELF_CHECKED = {
    "ingest": {"/v1/webhooks/generic", "/v1/webhooks/salesforce", "/v1/webhooks/hubspot", "/v1/webhooks/pipedrive"},
    "gateway": {"/v1/slack/interactions/{tenant_id}", "/v1/stream", "/", "/static"},
}
CREDENTIALS = (current_principal, current_service)


def _needs_credentials(dependant: Dependant) -> bool:
    return dependant.call in CREDENTIALS or any(_needs_credentials(d) for d in dependant.dependencies)


def _routes(app: FastAPI) -> Iterator[tuple[str, set[str], bool]]:
    """(path, methods, whether a credential dependency guards it) for every route of ``app``, routers included."""
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, str(context.path)
        if isinstance(route, APIRoute):
            yield path, set(route.methods), _needs_credentials(route.dependant)
        elif isinstance(route, APIWebSocketRoute):
            yield path, {"WEBSOCKET"}, _needs_credentials(route.dependant)
        else:  # FastAPI's own documents, the static files' mount
            yield path, set(context.methods or ()), False


@pytest.mark.parametrize("service", list(APPS))
def test_only_probes_documents_and_self_checked_routes_take_no_credential(service: str) -> None:
    unguarded = {path for path, _, guarded in _routes(APPS[service]()) if not guarded}
    assert unguarded == PROBES | DOCUMENTS | SELF_CHECKED.get(service, set())


@pytest.mark.parametrize("service", list(APPS))
async def test_every_guarded_route_answers_401_without_credentials(system: RunningSystem, service: str) -> None:
    guarded = [(path, methods) for path, methods, guarded in _routes(APPS[service]()) if guarded]
    async with httpx.AsyncClient(base_url=system.url(service), timeout=10) as client:
        for path, methods in guarded:
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            for method in methods - {"HEAD", "OPTIONS"}:
                response = await client.request(method, concrete, json={})
                assert response.status_code == 401, f"{method} {path}: {response.status_code}"
                assert response.headers["content-type"] == "application/problem+json"


DEAL = {"deal_id": "D-internal", "amount": 50_000, "stage": "proposal", "expected_close_date": "2026-12-31"}


async def test_the_scorer_answers_the_gateways_credential_for_its_tenant_only(system: RunningSystem) -> None:
    tenant, other = await system.new_tenant("svc"), await system.new_tenant("svc")
    body = {**DEAL, "tenant_id": tenant.tenant_id}
    async with httpx.AsyncClient(base_url=system.url("scorer"), timeout=10) as scorer:
        assert (await scorer.post("/score", json=body)).status_code == 401
        user_token = {"Authorization": f"Bearer {system.token(tenant)}"}
        assert (await scorer.post("/score", json=body, headers=user_token)).status_code == 401
        forged = scorer_credential(tenant.tenant_id, secret="not-the-service-secret-but-32-bytes-long")
        assert (await scorer.post("/score", json=body, headers=forged)).status_code == 401
        wrong_tenant = await scorer.post("/score", json=body, headers=scorer_credential(other.tenant_id))
        assert wrong_tenant.status_code == 403, wrong_tenant.text
        assert "another tenant" in wrong_tenant.json()["detail"]
        not_gateway = await scorer.post("/score", json=body, headers=scorer_credential(tenant.tenant_id,
                                                                                        caller="alerts"))
        assert not_gateway.status_code == 403
        scored = await scorer.post("/score", json=body, headers=scorer_credential(tenant.tenant_id))
        assert scored.status_code == 200, scored.text

        params = {"tenant_id": tenant.tenant_id}
        assert (await scorer.get("/model/performance", params=params)).status_code == 401
        other_tenants = await scorer.get("/model/performance", params=params,
                                         headers=scorer_credential(other.tenant_id))
        assert other_tenants.status_code == 403
        own = await scorer.get("/model/performance", params=params, headers=scorer_credential(tenant.tenant_id))
        assert own.status_code == 200, own.text


async def test_the_gateway_reaches_the_scorer_with_its_credential(system: RunningSystem) -> None:
    tenant = await system.new_tenant("svc")
    async with httpx.AsyncClient(base_url=system.url("gateway"), headers=system.auth(tenant), timeout=10) as gateway:
        scored = await gateway.post("/v1/deals/score", json=DEAL)
        performance = await gateway.get("/v1/models/performance")
    assert scored.status_code == 200, scored.text
    assert scored.json()["deal"]["tenant_id"] == tenant.tenant_id
    assert performance.status_code == 200, performance.text
