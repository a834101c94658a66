"""The dashboard opened in Debian's headless Chromium for a browser test, and the screenshots those tests keep.

Screenshots go to ``test-artifacts/dashboard/`` at the repository root (gitignored; ``DEALPULSE_TEST_ARTIFACTS``
moves it), one per test step that shows something, so a run leaves pictures of what the page looked like.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, async_playwright

from dealpulse_cli.bench.browser import launch_chromium
from tests.support import RunningSystem, Tenant, add_team, poll_until

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("DEALPULSE_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "dashboard"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


# The dashboard tests sign in as this manager, whose team owns their deals.
MANAGER, TEAM = "mgr-1", ("rep-7", "rep-8")


async def dashboard_tenant(system: RunningSystem, prefix: str = "dash") -> Tenant:
    """A tenant of the test's own whose manager ``MANAGER`` has the reps ``TEAM`` reporting to them."""
    tenant = await system.new_tenant(prefix)
    await add_team(system, tenant, MANAGER, *TEAM)
    return tenant


@asynccontextmanager
async def dashboard(system: RunningSystem, token: str | None, fragment: str = "",
                    viewport: dict[str, int] = DESKTOP) -> AsyncIterator[Page]:
    """The dashboard page opened with ``token`` (none: signed out) and ``fragment`` (``deal=ID``) in a fresh headless
    Chromium, closed afterwards."""
    hash_part = "&".join(part for part in (f"token={token}" if token else "", fragment) if part)
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            page = await browser.new_page(viewport=viewport, locale="en-US")  # the amounts tests read
            # The page's own errors, in the test's captured output (shown when it fails).
            page.on("pageerror", lambda error: print(f"page error: {error}"))
            page.on("console", lambda message: print(f"console {message.type}: {message.text}")
                    if message.type in ("error", "warning") else None)
            await page.goto(f"{system.url('gateway')}/" + (f"#{hash_part}" if hash_part else ""))
            yield page
        finally:
            await browser.close()


async def screenshot(page: Page, name: str) -> Path:
    """The whole page as a PNG under the artifacts folder."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=path, full_page=True)
    return path


async def mark_loaded(page: Page) -> None:
    """Tag this page load, so `still_same_load` proves a later update came without a reload."""
    await page.evaluate("window.__dealpulseLoad = 'tagged'")


async def still_same_load(page: Page) -> bool:
    return bool(await page.evaluate("window.__dealpulseLoad === 'tagged'"))


async def send_scored(system: RunningSystem, tenant: Tenant, change: dict[str, Any]) -> dict[str, Any]:
    """Send ``change`` through the CRM webhook and wait until the gateway reads a score made after it was sent:
    that score (``GET /v1/deals/{id}``'s ``score``)."""
    sent_at = datetime.now(UTC)
    assert (await system.send_change(tenant, change)).status_code == 202
    async with httpx.AsyncClient(base_url=system.url("gateway"), headers=system.auth(tenant)) as client:
        async def probe() -> dict[str, Any] | None:
            response = await client.get(f"/v1/deals/{change['deal_id']}")
            score: dict[str, Any] | None = response.json().get("score") if response.status_code == 200 else None
            return score if score and datetime.fromisoformat(score["scored_at"]) >= sent_at else None

        return await poll_until(probe)
