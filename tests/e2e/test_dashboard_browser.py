"""The dashboard in a real browser (Debian's headless Chromium): a webhook's score appears live, a deletion
removes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.support import RunningSystem, deal_change, poll_until

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@asynccontextmanager
async def _dashboard(system: RunningSystem, token: str) -> AsyncIterator[Page]:
    """The dashboard page opened with ``token`` in a fresh headless Chromium, closed afterwards."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{system.url('gateway')}/#token={token}")
            yield page
        finally:
            await browser.close()


async def test_dashboard_shows_a_new_score_live(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    token = system.token(tenant, role="manager", user="mgr-1")
    async with _dashboard(system, token) as page:
        await expect(page.locator("#status")).to_have_text("live", timeout=15_000)

        change = deal_change("D-web", "2026-11-20T10:00:00Z", name="Browser Co renewal", account_name="Browser Co",
                             amount=64_000, stage="Negotiation", owner_id="rep-7")
        assert (await system.send_change(tenant, change)).status_code == 202

        row = page.locator("#deal-rows tr", has_text="Browser Co renewal")
        await expect(row).to_be_visible(timeout=20_000)
        shown_score = int(await row.locator(".risk").inner_text())
        async with httpx.AsyncClient(base_url=system.url("gateway"),
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            stored = await poll_until(lambda: _score(client, "D-web"))
        assert shown_score == stored
        assert "token=" not in page.url, "the token must not stay in the address bar"


async def test_dashboard_drops_a_deal_the_crm_deleted_until_it_is_restored(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    async with _dashboard(system, system.token(tenant, role="manager", user="mgr-1")) as page:
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
    async with _dashboard(system, "not-a-token") as page:
        await expect(page.locator("#notice")).to_be_visible(timeout=15_000)
        await expect(page.locator("#deal-rows tr")).to_have_count(0)


async def _score(client: httpx.AsyncClient, deal_id: str) -> int | None:
    response = await client.get(f"/v1/deals/{deal_id}")
    if response.status_code != 200 or not response.json().get("score"):
        return None
    return int(response.json()["score"]["risk_score"])
