"""GET /v1/deals: every open deal, filtered, sorted and paged, each row in its own currency, with a summary of all
that match; and the currency of the at-risk listing. Read models seeded as the database owner."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from dealpulse_common.deal import Stage
from dealpulse_common.events import CommitAdmission, VerdictOverride
from tests import events
from tests.support import RunningSystem, Tenant, seed_deal

# deal id: (owner, currency, amount, risk, stage, rep's call, AI verdict, override, scored days ago, close date)
DEALS: dict[str, tuple[Any, ...]] = {
    "L1": ("rep-1", "USD", 120_000, 85, Stage.PROPOSAL, "commit", "pipeline", None, 0, date(2027, 1, 15)),
    "L2": ("rep-1", "EUR", 80_000, 60, Stage.NEGOTIATION, "best_case", "best_case", "commit", 1, date(2026, 12, 20)),
    "L3": ("rep-2", "USD", 15_000, 20, Stage.DISCOVERY, "pipeline", "pipeline", None, 30, None),
    "L4": ("rep-2", "GBP", 45_000, 45, Stage.PROPOSAL, None, "commit", None, 2, date(2027, 3, 1)),
    "L5": ("rep-3", "USD", 300_000, 70, Stage.COMMIT, "commit", None, None, 0, date(2026, 12, 31)),
}


async def _seed(system: RunningSystem, tenant: Tenant) -> None:
    now = datetime.now(UTC)
    for deal_id, (owner, currency, amount, risk, stage, call, ai, override, days, close) in DEALS.items():
        overridden = None if override is None else VerdictOverride(
            forecast_category=override, reason="Verbal yes from the CFO", overridden_by="mgr-1", overridden_at=now,
            ai_verdict=ai)
        verdict = None if ai is None else events.verdict_data(
            ai_forecast=ai, ai_verdict=ai, commit_admission=CommitAdmission.NOT_APPLICABLE, owner_id=owner,
            override=overridden)
        await seed_deal(system, tenant, deal_id, owner=owner, currency=currency, amount=amount, risk=risk,
                        stage=stage, forecast_category=call, verdict=verdict, scored_ago=timedelta(days=days),
                        expected_close_date=close, name=f"{deal_id} {owner}")
    await seed_deal(system, tenant, "L-closed", owner="rep-1", is_closed=True, is_won=True, amount=1)
    await seed_deal(system, tenant, "L-deleted", owner="rep-1", deleted=True, amount=1)


async def _list(system: RunningSystem, tenant: Tenant, role: str = "admin", user: str = "test-admin",
                **params: Any) -> dict[str, Any]:
    response = await system.gateway("GET", "/v1/deals", tenant, role, user, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _ids(body: dict[str, Any]) -> list[str]:
    return [row["deal_id"] for row in body["deals"]]


async def test_every_open_deal_with_its_currency_verdict_and_override(system: RunningSystem) -> None:
    tenant = await system.new_tenant("list")
    await _seed(system, tenant)

    body = await _list(system, tenant)

    assert _ids(body) == ["L1", "L5", "L2", "L4", "L3"], "riskiest first; closed and deleted deals never listed"
    rows = {row["deal_id"]: row for row in body["deals"]}
    assert {deal_id: row["currency"] for deal_id, row in rows.items()} == {
        deal_id: spec[1] for deal_id, spec in DEALS.items()}
    assert rows["L2"]["verdict"]["ai_verdict"] == "best_case"
    assert rows["L2"]["verdict"]["override"]["forecast_category"] == "commit"
    assert rows["L2"]["verdict"]["override"]["reason"] == "Verbal yes from the CFO"
    assert rows["L2"]["verdict"]["effective_verdict"] == "commit"
    assert rows["L1"]["verdict"]["override"] is None and rows["L1"]["verdict"]["effective_verdict"] == "pipeline"
    assert rows["L5"]["verdict"] is None
    assert rows["L3"]["stale"] is True and rows["L1"]["stale"] is False
    assert rows["L1"]["expected_close_date"] == "2027-01-15" and rows["L1"]["forecast_category"] == "commit"
    assert body["pagination"] == {"total_count": 5, "limit": 100, "offset": 0, "has_more": False}
    summary = body["summary"]
    assert summary["open_deals"] == 5
    assert summary["pipeline_value"]["by_currency"] == {"EUR": {"amount": 80_000, "deals": 1},
                                                        "GBP": {"amount": 45_000, "deals": 1},
                                                        "USD": {"amount": 435_000, "deals": 3}}
    assert summary["pipeline_value"]["reporting"]["complete"] is False, "no rates configured"


@pytest.mark.parametrize(("params", "expected"), [
    ({"risk_category": "high,critical"}, {"L1", "L2", "L5"}),
    ({"risk_category": ["low", "medium"]}, {"L3", "L4"}),
    ({"owner": "rep-2"}, {"L3", "L4"}),
    ({"owner": "rep-1,rep-3"}, {"L1", "L2", "L5"}),
    ({"stage": "proposal"}, {"L1", "L4"}),
    ({"forecast_category": "commit"}, {"L1", "L5"}),
    ({"verdict": "commit"}, {"L2", "L4"}),  # the override's call counts
    ({"verdict": "pipeline,best_case"}, {"L1", "L3"}),
    ({"overridden": "true"}, {"L2"}),
    ({"currency": "usd"}, {"L1", "L3", "L5"}),
    ({"min_amount": 45_000, "max_amount": 120_000}, {"L1", "L2", "L4"}),
    ({"stale": "true"}, {"L3"}),
    ({"stale": "false", "owner": "rep-2"}, {"L4"}),
])
async def test_filters(system: RunningSystem, params: dict[str, Any], expected: set[str]) -> None:
    tenant = await system.new_tenant("listf")
    await _seed(system, tenant)

    body = await _list(system, tenant, **params)

    assert set(_ids(body)) == expected
    assert body["pagination"]["total_count"] == len(expected) == body["summary"]["open_deals"]


async def test_sorting_and_pages(system: RunningSystem) -> None:
    tenant = await system.new_tenant("lists")
    await _seed(system, tenant)

    def by(key: Any, reverse: bool = False) -> list[str]:
        present = [d for d in DEALS if key(DEALS[d]) is not None]
        absent = [d for d in DEALS if key(DEALS[d]) is None]
        return sorted(present, key=lambda d: key(DEALS[d]), reverse=reverse) + absent  # NULLS LAST

    assert _ids(await _list(system, tenant, sort_by="amount", order="asc")) == by(lambda s: s[2])
    assert _ids(await _list(system, tenant, sort_by="amount")) == by(lambda s: s[2], reverse=True)
    assert _ids(await _list(system, tenant, sort_by="risk_score", order="asc")) == by(lambda s: s[3])
    assert _ids(await _list(system, tenant, sort_by="win_probability")) == by(lambda s: -s[3], reverse=True)
    assert _ids(await _list(system, tenant, sort_by="scored_at", order="asc")) == by(lambda s: -s[8])
    assert _ids(await _list(system, tenant, sort_by="expected_close_date", order="asc")) == by(lambda s: s[9])
    assert _ids(await _list(system, tenant, sort_by="name", order="desc")) == sorted(DEALS, reverse=True)

    pages = [await _list(system, tenant, sort_by="amount", order="asc", limit=2, offset=offset)
             for offset in (0, 2, 4)]
    assert [_ids(page) for page in pages] == [["L3", "L4"], ["L2", "L1"], ["L5"]]
    assert [page["pagination"]["has_more"] for page in pages] == [True, True, False]
    assert all(page["pagination"]["total_count"] == 5 for page in pages)
    assert pages[0]["summary"]["open_deals"] == 5, "the summary covers every match, not the page"


async def test_a_rep_lists_only_their_own_deals(system: RunningSystem) -> None:
    tenant = await system.new_tenant("listrep")
    await _seed(system, tenant)

    assert set(_ids(await _list(system, tenant, "rep", "rep-2"))) == {"L3", "L4"}
    assert set(_ids(await _list(system, tenant, "rep", "rep-2", owner="rep-2"))) == {"L3", "L4"}
    forbidden = await system.gateway("GET", "/v1/deals", tenant, "rep", "rep-2", params={"owner": "rep-1"})
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == "application/problem+json"


async def test_high_risk_rows_carry_their_currency_and_totals_stay_per_currency(system: RunningSystem) -> None:
    tenant = await system.new_tenant("hrcur")
    await _seed(system, tenant)

    body = (await system.gateway("GET", "/v1/deals/high-risk", tenant)).json()

    assert {row["deal_id"]: row["currency"] for row in body["deals"]} == {"L1": "USD", "L2": "EUR", "L5": "USD"}
    summary = body["summary"]
    assert summary["at_risk_revenue"]["by_currency"] == {"EUR": {"amount": 80_000, "deals": 1},
                                                         "USD": {"amount": 420_000, "deals": 2}}
    assert summary["total_at_risk_revenue"] is None, "euros are never added to dollars"
    usd_only = (await system.gateway("GET", "/v1/deals/high-risk", tenant, "rep", "rep-3")).json()
    assert usd_only["summary"]["total_at_risk_revenue"] == 300_000


async def test_invalid_listing_parameters_are_422_problems(system: RunningSystem) -> None:
    tenant = await system.new_tenant("list422")
    for params in ({"stage": "won-ish"}, {"forecast_category": "maybe"}, {"verdict": "closed_won"},
                   {"risk_category": "severe"}, {"sort_by": "owner"}, {"order": "up"}, {"limit": 0},
                   {"limit": 1001}, {"offset": -1}, {"min_amount": -5}, {"min_amount": 10, "max_amount": 5},
                   {"stale": "perhaps"}, {"min_amount": "nan"}):
        response = await system.gateway("GET", "/v1/deals", tenant, params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"], params
