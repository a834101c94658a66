"""The dashboard in a real browser (Debian's headless Chromium): a webhook's score appears live, a deletion
removes it, an alert's deep link (#deal=ID) opens that deal, asking for sign-in when there is no token."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.e2e.dashboard_page import dashboard, dashboard_tenant, send_scored
from tests.support import RunningSystem, Tenant, deal_change

pytestmark = pytest.mark.e2e


async def test_dashboard_shows_a_new_score_live(system: RunningSystem) -> None:
    tenant = await dashboard_tenant(system)
    token = system.token(tenant, role="manager", user="mgr-1")
    async with dashboard(system, token) as page:
        await expect(page.locator("#status")).to_have_text("live", timeout=15_000)

        change = deal_change("D-web", "2026-11-20T10:00:00Z", name="Browser Co renewal", account_name="Browser Co",
                             amount=64_000, stage="Negotiation", owner_id="rep-7")
        stored = await send_scored(system, tenant, change)

        row = page.locator("#deal-rows tr", has_text="Browser Co renewal")
        await expect(row.locator(".risk")).to_have_text(str(stored["risk_score"]), timeout=20_000)
        assert "token=" not in page.url, "the token must not stay in the address bar"


async def test_dashboard_drops_a_deal_the_crm_deleted_until_it_is_restored(system: RunningSystem) -> None:
    tenant = await dashboard_tenant(system)
    async with dashboard(system, system.token(tenant, role="manager", user="mgr-1")) as page:
        await expect(page.locator("#status")).to_have_text("live", timeout=15_000)
        for deal_id, name in (("D-keep", "Keeper Inc expansion"), ("D-gone", "Gone Ltd renewal")):
            change = deal_change(deal_id, "2026-11-20T10:00:00Z", name=name, amount=30_000, stage="Proposal",
                                 owner_id="rep-7")
            assert (await system.send_change(tenant, change)).status_code == 202
        gone = page.locator("#deal-rows tr", has_text="Gone Ltd renewal")
        await expect(gone).to_be_visible(timeout=20_000)

        deletion = {"deal_id": "D-gone", "modified_at": "2026-11-21T10:00:00Z", "deleted": True}
        assert (await system.send_change(tenant, deletion)).status_code == 202

        await expect(gone).to_have_count(0, timeout=20_000)  # without a reload
        await expect(page.locator("#deal-rows tr", has_text="Keeper Inc expansion")).to_be_visible()

        # Restored in the CRM, it comes back as soon as it is scored again.
        restore = {"deal_id": "D-gone", "modified_at": "2026-11-22T10:00:00Z", "restored": True}
        assert (await system.send_change(tenant, restore)).status_code == 202
        await expect(gone).to_be_visible(timeout=20_000)


async def test_dashboard_refuses_a_bad_token_visibly(system: RunningSystem) -> None:
    async with dashboard(system, "not-a-token") as page:
        await expect(page.locator("#notice")).to_be_visible(timeout=15_000)
        await expect(page.locator("#deal-rows tr")).to_have_count(0)


async def _scored_deal(system: RunningSystem, tenant: Tenant, deal_id: str, name: str) -> int:
    """A deal sent through the CRM webhook, once scored: its stored risk score."""
    change = deal_change(deal_id, "2026-11-20T10:00:00Z", name=name, account_name="Linked Ltd", amount=52_000,
                         stage="Proposal", owner_id="rep-7")
    return int((await send_scored(system, tenant, change))["risk_score"])


async def test_an_alerts_deep_link_opens_the_deal(system: RunningSystem) -> None:
    tenant = await dashboard_tenant(system)
    token = system.token(tenant, role="manager", user="mgr-1")
    risk = await _scored_deal(system, tenant, "D-link", "Linked Ltd expansion")
    # Opened from an alert: the dashboard's address with #deal=ID, the token given once in the same fragment
    async with dashboard(system, token, "deal=D-link") as page:
        detail = page.locator("#deal-detail")
        await expect(detail).to_be_visible(timeout=15_000)
        await expect(page.locator("#detail-title")).to_have_text("Linked Ltd expansion")
        await expect(page.locator("#detail-risk")).to_have_text(str(risk))
        assert page.url.endswith("/#deal=D-link"), "the token leaves the address bar, the deal stays"
        # A second deep link in the same tab (the feed's "open deal") and a reload open the deal too
        await _scored_deal(system, tenant, "D-other", "Other Co renewal")
        await page.goto(f"{system.url('gateway')}/#deal=D-other")
        await expect(page.locator("#detail-title")).to_have_text("Other Co renewal", timeout=15_000)
        await page.reload()
        await expect(page.locator("#detail-title")).to_have_text("Other Co renewal", timeout=15_000)
        # An unknown deal says so
        await page.goto(f"{system.url('gateway')}/#deal=D-missing")
        await expect(page.locator("#detail-facts")).to_contain_text("No such deal", timeout=15_000)


async def test_a_deep_link_without_a_token_asks_to_sign_in_then_opens_the_deal(system: RunningSystem) -> None:
    tenant = await dashboard_tenant(system)
    token = system.token(tenant, role="manager", user="mgr-1")
    await _scored_deal(system, tenant, "D-signin", "Sign In Co renewal")
    async with dashboard(system, None, "deal=D-signin") as page:
        await expect(page.locator("#signin")).to_be_visible(timeout=15_000)
        await expect(page.locator("#notice")).to_contain_text("Sign in to open deal D-signin")
        await expect(page.locator("#deal-detail")).to_be_hidden()
        await page.fill("#signin-token", token)
        await page.click("#signin button[type=submit]")
        await expect(page.locator("#detail-title")).to_have_text("Sign In Co renewal", timeout=15_000)
        await expect(page.locator("#signin")).to_be_hidden()
        await expect(page.locator("#status")).to_have_text("live", timeout=15_000)

