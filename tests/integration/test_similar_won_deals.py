"""A scored open deal names up to three of the tenant's own won deals like it, nearest in size first."""

from __future__ import annotations

from tests.support import RunningSystem, StreamClient, deal_change


async def test_open_deal_lists_similar_won_deals_of_its_own_tenant(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    other = await system.new_tenant("other")
    won = {"W-40k": 40_000, "W-100k": 100_000, "W-1m": 1_000_000, "W-45k-retail": 45_000}
    for deal_id, amount in won.items():
        industry = "Retail" if "retail" in deal_id else "Software"
        change = deal_change(deal_id, "2026-11-01T10:00:00Z", name=deal_id, amount=amount, industry=industry,
                             product_type="core", stage="Closed Won", created_at="2026-08-01T00:00:00Z",
                             closed_at="2026-10-30T00:00:00Z")
        assert (await system.send_change(tenant, change)).status_code == 202
    # Another tenant's won deal of the very same shape must never show up.
    assert (await system.send_change(other, deal_change("W-other", "2026-11-01T10:00:00Z", amount=45_000,
                                                         industry="Software", product_type="core",
                                                         stage="Closed Won"))).status_code == 202

    stream = await StreamClient.connect(system.ws_url(), system.token(tenant))
    try:
        await _wait_until_won_deals_are_scored(system, tenant.tenant_id, len(won))
        change = deal_change("D-open", "2026-11-20T10:00:00Z", amount=45_000, industry="Software",
                             product_type="core", stage="Proposal")
        assert (await system.send_change(tenant, change)).status_code == 202
        message = await stream.wait_for(lambda m: m["kind"] == "score" and m["event"]["dealid"] == "D-open")
    finally:
        await stream.close()
    similar = message["event"]["data"]["similar_won_deals"]
    assert [s["deal_id"] for s in similar] == ["W-40k", "W-100k", "W-1m"]
    assert similar[0]["what_happened"][0] == "won in 90 days"


async def _wait_until_won_deals_are_scored(system: RunningSystem, tenant_id: str, count: int) -> None:
    from tests.support import poll_until

    async def scored() -> bool:
        rows = await system.admin_fetch(
            "SELECT count(*) AS n FROM deal_risk WHERE tenant_id = $1 AND is_closed", tenant_id)
        return rows[0]["n"] >= count

    await poll_until(scored, timeout=30)
