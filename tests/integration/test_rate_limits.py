"""Quotas: a gateway with small per-user and per-tenant quotas and an ingest with a small webhook quota (processes
of this module's own) answer the request past the quota with a 429 problem carrying Retry-After and the RateLimit
headers; another user is not affected, and the quota comes back when its window resets."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import RunningSystem, Tenant, deal_change, own_service, poll_until

PER_USER, PER_TENANT, WEBHOOKS = 4, 6, 3
WINDOW_S = 15  # long enough that a window cannot reset within the handful of requests that fill it
ENV = {"GATEWAY_RATE_LIMIT_PER_USER": f"{PER_USER}/{WINDOW_S} seconds",
       "GATEWAY_RATE_LIMIT_PER_TENANT": f"{PER_TENANT}/{WINDOW_S} seconds",
       "INGEST_RATE_LIMIT_WEBHOOKS_PER_TENANT": f"{WEBHOOKS}/{WINDOW_S} seconds"}


@pytest.fixture(scope="module")
def limited(system: RunningSystem) -> Iterator[dict[str, str]]:
    with own_service(system, "gateway", ENV, port_shift=45) as gateway, \
            own_service(system, "ingest", ENV, port_shift=45) as ingest:
        yield {"gateway": gateway, "ingest": ingest}


async def _read(client: httpx.AsyncClient, system: RunningSystem, tenant: Tenant, user: str) -> httpx.Response:
    token = system.token(tenant, "rep", user)
    return await client.get("/v1/deals/high-risk", headers={"Authorization": f"Bearer {token}"})


def _assert_too_many(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= WINDOW_S
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"
    assert response.headers["ratelimit-reset"] == response.headers["retry-after"]
    body = response.json()
    assert body["status"] == 429 and body["title"] == "Too many requests" and body["request_id"]


async def test_a_user_past_their_quota_gets_429_and_another_user_does_not(
        system: RunningSystem, limited: dict[str, str]) -> None:
    tenant = await system.new_tenant("quota")
    async with httpx.AsyncClient(base_url=limited["gateway"], timeout=10) as client:
        # Given a user who spends their whole quota
        answers = [await _read(client, system, tenant, "rep-1") for _ in range(PER_USER)]
        assert [a.status_code for a in answers] == [200] * PER_USER
        assert [a.headers["ratelimit-remaining"] for a in answers] == [str(n) for n in range(PER_USER - 1, -1, -1)]
        assert all(a.headers["ratelimit-limit"] == str(PER_USER) for a in answers)
        # When they make one request more, Then it is refused with Retry-After
        _assert_too_many(await _read(client, system, tenant, "rep-1"), PER_USER)
        # And another user of the tenant is still served
        assert (await _read(client, system, tenant, "rep-2")).status_code == 200
        # And the first user is served again once the window resets
        async def served_again() -> bool:
            return (await _read(client, system, tenant, "rep-1")).status_code == 200

        assert await poll_until(served_again, timeout=WINDOW_S + 10, interval=1.0)


async def test_a_tenant_past_its_quota_gets_429_whoever_asks(system: RunningSystem, limited: dict[str, str]) -> None:
    tenant, other = await system.new_tenant("quota"), await system.new_tenant("quota")
    async with httpx.AsyncClient(base_url=limited["gateway"], timeout=10) as client:
        users = [f"rep-{n}" for n in range(PER_TENANT)]
        assert [(await _read(client, system, tenant, user)).status_code for user in users] == [200] * PER_TENANT
        _assert_too_many(await _read(client, system, tenant, "rep-new"), PER_TENANT)
        assert (await _read(client, system, other, "rep-new")).status_code == 200


async def test_a_tenants_webhooks_past_their_quota_get_429(system: RunningSystem, limited: dict[str, str]) -> None:
    tenant = await system.new_tenant("quota")
    # Unsigned deliveries naming the tenant do not use its quota up: only a proven caller is counted
    async with httpx.AsyncClient(base_url=limited["ingest"], timeout=10) as client:
        for _ in range(WEBHOOKS + 1):
            forged = await client.post("/v1/webhooks/generic", json=deal_change("D1", "2026-01-01T00:00:00Z"),
                                       headers={"X-DealPulse-Tenant": tenant.tenant_id})
            assert forged.status_code == 401
    answers = [await system.send_change(tenant, deal_change(f"D-{n}", "2026-01-01T00:00:00Z", amount=1000),
                                        ingest_url=limited["ingest"]) for n in range(WEBHOOKS + 1)]
    assert [a.status_code for a in answers[:WEBHOOKS]] == [202] * WEBHOOKS
    _assert_too_many(answers[-1], WEBHOOKS)

