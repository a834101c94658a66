"""The pipeline dashboard in Debian's headless Chromium: sign-in and the header, each amount in its own currency, a
webhook moving a row and the header without a reload, the drill-down's history chart, a manager's audited override,
a rep's own deals only, the alerts panel's feedback (still there after a reload), and the page at phone width. Each
test keeps screenshots under test-artifacts/dashboard/ (tests/e2e/dashboard_page.py)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.alert_setup import critical_score, publish_scores
from tests.e2e.dashboard_page import PHONE, dashboard, mark_loaded, screenshot, send_scored, still_same_load
from tests.support import RunningSystem, Tenant, deal_change, poll_until

pytestmark = pytest.mark.e2e
SHOWN = 20_000  # ms: how long the page may take to show what the system already has


def _deal(deal_id: str, name: str, amount: float, owner: str = "rep-7", **fields: Any) -> dict[str, Any]:
    return deal_change(deal_id, "2026-11-20T10:00:00Z", name=name, account_name=f"{name} Ltd", amount=amount,
                       stage="Proposal", owner_id=owner, **fields)


def _row(page: Page, name: str) -> Any:
    return page.locator("#deal-rows tr", has_text=name)


async def _set_rates(system: RunningSystem, tenant: Tenant, rates: dict[str, float]) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway"), headers=system.auth(tenant)) as client:
        response = await client.put("/v1/admin/reporting", json={"currency": "USD", "rates": rates})
        assert response.status_code == 200, response.text


async def test_signing_in_shows_the_header_per_currency_and_each_amount_in_its_own(system: RunningSystem) -> None:
    tenant = await system.new_tenant("dash")
    await _set_rates(system, tenant, {"EUR": 1.1})
    await send_scored(system, tenant, _deal("D-usd", "Dollar Co", 40_000))
    await send_scored(system, tenant, _deal("D-eur", "Euro GmbH", 25_000, currency="EUR"))
    async with dashboard(system, None) as page:
        await page.fill("#signin-token", system.token(tenant, role="manager", user="mgr-1"))
        await page.click("#signin button[type=submit]")

        pipeline = page.locator("#kpi-pipeline")
        await expect(pipeline.locator(".kpi-value")).to_have_text("$67,500", timeout=SHOWN)  # 40,000 + 25,000 × 1.1
        await expect(pipeline.locator(".kpi-count")).to_have_text("2 deals")
        await expect(pipeline.locator(".kpi-breakdown")).to_contain_text("€25,000 · 1 deal")
        await expect(pipeline.locator(".kpi-breakdown")).to_contain_text("$40,000 · 1 deal")
        await expect(page.locator("#pipeline-note")).to_contain_text("1 EUR = 1.1 USD")
        await expect(_row(page, "Euro GmbH").locator(".amount")).to_have_text("€25,000")
        await screenshot(page, "header-per-currency")
        # The bug this page had: a reload showed a euro deal in dollars.
        await page.reload()
        await expect(_row(page, "Euro GmbH").locator(".amount")).to_have_text("€25,000", timeout=SHOWN)
        await expect(_row(page, "Dollar Co").locator(".amount")).to_have_text("$40,000")


async def test_a_webhook_moves_a_deal_and_its_row_and_the_header_follow_without_reload(
        system: RunningSystem) -> None:
    tenant = await system.new_tenant("dash")
    first = await send_scored(system, tenant, _deal("D-move", "Mover Inc", 50_000))
    async with dashboard(system, system.token(tenant, role="manager", user="mgr-1")) as page:
        await expect(page.locator("#status")).to_have_text("live", timeout=SHOWN)
        row = _row(page, "Mover Inc")
        await expect(row.locator(".amount")).to_have_text("$50,000", timeout=SHOWN)
        await expect(page.locator("#kpi-pipeline .kpi-value")).to_have_text("$50,000")
        await mark_loaded(page)

        moved = deal_change("D-move", "2026-11-21T10:00:00Z", amount=120_000, stage="Negotiation",
                            expected_close_date="2026-10-01")
        second = await send_scored(system, tenant, moved)

        await expect(row.locator(".amount")).to_have_text("$120,000", timeout=SHOWN)
        await expect(row.locator(".risk")).to_have_text(str(second["risk_score"]))
        await expect(page.locator("#kpi-pipeline .kpi-value")).to_have_text("$120,000", timeout=SHOWN)
        if second["risk_score"] != first["risk_score"]:
            await expect(row).to_contain_text(f"was {first['risk_score']}")
        assert await still_same_load(page), "the row and the header changed without a reload"
        await screenshot(page, "row-and-header-moved")


async def test_the_drill_down_shows_the_score_history_chart(system: RunningSystem) -> None:
    tenant = await system.new_tenant("dash")
    await send_scored(system, tenant, _deal("D-hist", "History Ltd", 70_000))
    await send_scored(system, tenant, deal_change("D-hist", "2026-11-21T10:00:00Z", expected_close_date="2026-09-01"))
    token = system.token(tenant, role="manager", user="mgr-1")
    async with httpx.AsyncClient(base_url=system.url("gateway"), headers={"Authorization": f"Bearer {token}"}) as api:
        history = (await api.get("/v1/deals/D-hist/history")).json()
    stored = [point["risk_score"] for point in history["points"] if point["kind"] == "score"]
    assert len(stored) == 2

    async with dashboard(system, token, "deal=D-hist") as page:
        await expect(page.locator("#detail-title")).to_have_text("History Ltd", timeout=SHOWN)
        await expect(page.locator("#history-events .score-event")).to_have_count(2, timeout=SHOWN)
        plotted = await page.wait_for_function(
            """async () => {
                const { Chart } = await import("/static/vendor/chart.js/chart.js");
                const chart = Chart.getChart(document.getElementById("history-chart"));
                return chart && chart.data.datasets[0].data.length ? chart.data.datasets[0].data : null;
            }""", timeout=SHOWN)
        assert await plotted.json_value() == stored
        await expect(page.locator("#detail-factors li").first).not_to_have_text("—")
        await expect(page.locator("#detail-changes")).to_contain_text("risk points since")
        await screenshot(page, "drill-down-history")


async def test_a_manager_overrides_a_verdict_and_sees_it_audited(system: RunningSystem) -> None:
    tenant = await system.new_tenant("dash")
    await send_scored(system, tenant, _deal("D-over", "Override Co", 90_000))
    verdict = await _verdict(system, tenant, "D-over")
    call = "pipeline" if verdict["ai_verdict"] == "commit" else "commit"
    reason = "Signed order form is with their legal team"
    async with dashboard(system, system.token(tenant, role="manager", user="mgr-1"), "deal=D-over") as page:
        form = page.locator("#detail-override form")
        await expect(form).to_be_visible(timeout=SHOWN)
        await form.locator("select").select_option(call)
        await form.locator("textarea").fill(reason)
        await form.locator("button[type=submit]").click()

        override = page.locator("#detail-verdict .call.override")
        await expect(override).to_contain_text(call.replace("_", " "), timeout=SHOWN)
        await expect(override).to_contain_text(reason)
        await expect(page.locator("#detail-verdict .call.ai")).to_contain_text(verdict["ai_verdict"].replace("_", " "))
        audited = page.locator("#history-events .override-event")
        await expect(audited).to_contain_text(f"by mgr-1: “{reason}”", timeout=SHOWN)
        await expect(_row(page, "Override Co").locator(".verdict")).to_contain_text("(override)", timeout=SHOWN)
        await screenshot(page, "override-audited")

    rows = await system.admin_fetch(
        "SELECT actor, action, detail FROM audit_log WHERE tenant_id = $1 AND subject = $2", tenant.tenant_id,
        "D-over")
    assert [(row["actor"], row["action"]) for row in rows] == [("mgr-1", "verdict_override.set")]
    detail = json.loads(rows[0]["detail"])
    assert (detail["reason"], detail["before"], detail["after"]["forecast_category"]) == (reason, None, call)


async def test_a_rep_sees_only_their_own_deals(system: RunningSystem) -> None:
    tenant = await system.new_tenant("dash")
    await send_scored(system, tenant, _deal("D-mine", "Mine Corp", 30_000, owner="rep-7"))
    await send_scored(system, tenant, _deal("D-theirs", "Theirs Corp", 45_000, owner="rep-8"))
    async with dashboard(system, system.token(tenant, role="rep", user="rep-7")) as page:
        await expect(_row(page, "Mine Corp")).to_be_visible(timeout=SHOWN)
        await expect(page.locator("#kpi-pipeline .kpi-value")).to_have_text("$30,000")
        await expect(page.locator("#kpi-pipeline .kpi-count")).to_have_text("1 deal")
        await expect(page.locator("#deal-rows tr")).to_have_count(1)
        await expect(page.locator("#rep-rows tr")).to_have_count(1)
        await expect(page.locator("#rep-rows")).to_contain_text("rep-7")
        await expect(page.locator("#deal-filters [name=owner]")).to_be_hidden()

        # Another rep's deal stays out live too, and its deep link says whose it is.
        await send_scored(system, tenant, deal_change("D-theirs", "2026-11-21T10:00:00Z", amount=46_000))
        await send_scored(system, tenant, deal_change("D-mine", "2026-11-21T10:00:00Z", amount=31_000))
        await expect(_row(page, "Mine Corp").locator(".amount")).to_have_text("$31,000", timeout=SHOWN)
        await expect(_row(page, "Theirs Corp")).to_have_count(0)
        await page.goto(f"{system.url('gateway')}/#deal=D-theirs")
        await expect(page.locator("#detail-facts")).to_contain_text("another rep", timeout=SHOWN)
        await screenshot(page, "rep-own-deals")


async def test_an_alert_in_the_panel_takes_feedback(system: RunningSystem) -> None:
    tenant = await system.new_tenant("dash")
    async with dashboard(system, system.token(tenant, role="manager", user="mgr-1")) as page:
        await expect(page.locator("#status")).to_have_text("live", timeout=SHOWN)
        await publish_scores(system, [critical_score(tenant, "D-alert", "rep-7")])
        alert = page.locator("#feed-items li.alert")
        await expect(alert).to_have_count(1, timeout=SHOWN)
        await alert.get_by_role("button", name="False alarm").click()
        await alert.locator(".feedback input").fill("The buyer moved the date themselves")
        await alert.get_by_role("button", name="False alarm").click()
        await expect(alert.locator(".outcome")).to_have_text("marked a false alarm", timeout=SHOWN)
        await screenshot(page, "alert-feedback")

        await page.reload()  # the panel opens on the recent alerts (GET /v1/alerts), feedback and all
        await expect(alert).to_have_count(1, timeout=SHOWN)
        await expect(alert.locator(".outcome")).to_have_text("marked a false alarm by mgr-1", timeout=SHOWN)

    rows = await system.admin_fetch(
        "SELECT action, note, user_id FROM alert_feedback WHERE tenant_id = $1", tenant.tenant_id)
    assert [(r["action"], r["note"], r["user_id"]) for r in rows] == [
        ("false_alarm", "The buyer moved the date themselves", "mgr-1")]


async def test_the_dashboard_fits_a_phone(system: RunningSystem) -> None:
    tenant = await system.new_tenant("dash")
    await send_scored(system, tenant, _deal("D-phone", "Pocket Ltd", 12_500, currency="EUR"))
    async with dashboard(system, system.token(tenant, role="manager", user="mgr-1"), viewport=PHONE) as page:
        await expect(_row(page, "Pocket Ltd").locator(".amount")).to_have_text("€12,500", timeout=SHOWN)
        await expect(page.locator("#kpi-pipeline .kpi-value")).to_have_text("€12,500")
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow} px wider than a phone"
        for column in (".deal-name", ".amount", ".risk"):  # the row's essentials, within the screen's width
            box = await _row(page, "Pocket Ltd").locator(column).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (column, box)
        path = await screenshot(page, "phone")
        assert path.stat().st_size > 0


async def _verdict(system: RunningSystem, tenant: Tenant, deal_id: str) -> dict[str, Any]:
    """The deal's latest verdict, once verdict has judged it."""
    async with httpx.AsyncClient(base_url=system.url("gateway"), headers=system.auth(tenant)) as client:
        async def probe() -> dict[str, Any] | None:
            verdict: dict[str, Any] | None = (await client.get(f"/v1/deals/{deal_id}")).json().get("verdict")
            return verdict

        return await poll_until(probe)
