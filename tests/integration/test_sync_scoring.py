"""POST /v1/deals/score through the gateway to the real scorer: same model, caller's tenant, clear errors."""

from __future__ import annotations

import httpx
import pytest

from tests.support import RunningSystem

DEAL = {"deal_id": "D-what-if", "amount": 120_000, "stage": "proposal", "forecast_category": "commit",
        "expected_close_date": "2026-12-31", "owner_id": "rep-1"}


def _client(system: RunningSystem, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=system.url("gateway"), headers=headers, timeout=10)


@pytest.mark.parametrize("role", ["admin", "rep"])
async def test_sync_score_uses_the_tokens_tenant_and_the_active_model(system: RunningSystem, role: str) -> None:
    tenant = await system.new_tenant()
    async with _client(system, system.token(tenant, role, f"{role}-1")) as client:
        response = await client.post("/v1/deals/score", json={**DEAL, "tenant_id": "someone-else"})
    assert response.status_code == 200, response.text
    scored = response.json()
    assert scored["deal"]["tenant_id"] == tenant.tenant_id, "the body's tenant must never be trusted"
    assert scored["risk_score"] == round(100 * (1 - scored["win_probability"]))
    assert len(scored["factors"]) == 3
    assert scored["model_version"].startswith("v")
    rows = await system.admin_fetch("SELECT 1 FROM risk_scores WHERE tenant_id = $1", tenant.tenant_id)
    assert rows == [], "a what-if score must not be stored"


@pytest.mark.parametrize("body", [
    {"amount": 5}, {**DEAL, "amount": "lots"}, {"deal_id": "x", "amount": "lots"}, [1, 2],
    # Values the scorer cannot carry or compute with: refused, never a 500 (found by fuzzing the OpenAPI spec).
    {**DEAL, "custom": {"big": 10**30}}, {**DEAL, "expected_close_date": "9999-12-31"}, {**DEAL, "name": "x\u0000"},
])
async def test_invalid_deal_is_422(system: RunningSystem, body: object) -> None:
    tenant = await system.new_tenant()
    async with _client(system, system.token(tenant)) as client:
        response = await client.post("/v1/deals/score", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_no_token_no_scoring(system: RunningSystem) -> None:
    async with _client(system, None) as client:
        assert (await client.post("/v1/deals/score", json=DEAL)).status_code == 401


async def test_unreachable_scorer_is_503_with_retry_after(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    system.supervisor.stop("scorer")
    try:
        async with _client(system, system.token(tenant)) as client:
            response = await client.post("/v1/deals/score", json=DEAL)
    finally:
        system.supervisor.start("scorer")
        system.supervisor.wait_ready(["scorer"], timeout=60)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
