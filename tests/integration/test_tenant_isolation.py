"""A token of one tenant never sees another tenant's deals: not over WebSocket, REST, or SQL."""

from __future__ import annotations

import asyncpg
import httpx

from tests.support import RunningSystem, StreamClient, deal_change


async def test_tenant_b_never_sees_tenant_a(system: RunningSystem) -> None:
    tenant_a = await system.new_tenant("a")
    tenant_b = await system.new_tenant("b")
    stream_a = await StreamClient.connect(system.ws_url(), system.token(tenant_a))
    stream_b = await StreamClient.connect(system.ws_url(), system.token(tenant_b))
    try:
        change = deal_change("D-secret", "2026-11-20T10:00:00Z", amount=77_000, stage="Negotiation")
        assert (await system.send_change(tenant_a, change)).status_code == 202
        await stream_a.wait_for(lambda m: m["event"]["dealid"] == "D-secret")
        leaked = await stream_b.collect(2.0)
        assert leaked == [], f"tenant B received {leaked}"
    finally:
        await stream_a.close()
        await stream_b.close()

    async with httpx.AsyncClient(base_url=system.url("gateway")) as client:
        own = await client.get("/v1/deals/D-secret", headers={"Authorization": f"Bearer {system.token(tenant_a)}"})
        other = await client.get("/v1/deals/D-secret", headers={"Authorization": f"Bearer {system.token(tenant_b)}"})
        listing = await client.get("/v1/deals/high-risk?risk_category=low,medium,high,critical",
                                   headers={"Authorization": f"Bearer {system.token(tenant_b)}"})
    assert own.status_code == 200
    assert other.status_code == 404
    assert other.headers["content-type"].startswith("application/problem+json")
    assert all(d["deal_id"] != "D-secret" for d in listing.json().get("deals", []))


async def test_row_level_security_hides_other_tenants_even_without_where(system: RunningSystem) -> None:
    tenant_a = await system.new_tenant("a")
    tenant_b = await system.new_tenant("b")
    assert (await system.send_change(tenant_a, deal_change("D-rls", "2026-11-20T10:00:00Z", amount=5))).status_code \
        == 202
    conn = await asyncpg.connect(system.stack.database_url)  # the services' own non-owner role
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_b.tenant_id)
            assert await conn.fetch("SELECT * FROM deals") == []
            assert await conn.fetch("SELECT * FROM tenants WHERE tenant_id = $1", tenant_a.tenant_id) == []
        assert await conn.fetch("SELECT * FROM deals") == [], "no tenant set must mean no rows"
    finally:
        await conn.close()


async def test_missing_or_forged_token_is_refused(system: RunningSystem) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway")) as client:
        missing = await client.get("/v1/deals/high-risk")
        forged = await client.get("/v1/deals/high-risk", headers={"Authorization": "Bearer not.a.jwt"})
    assert missing.status_code == 401
    assert forged.status_code == 401
