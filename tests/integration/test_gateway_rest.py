"""The gateway's REST reads: one deal with its latest score and verdict, the at-risk listing.

Read models are seeded directly as the database owner (``tests.support.seed_deal``), so ages, staleness and ordering
are exact. The analytics routes are tested in test_pipeline_analytics.py.
Needs the ``system`` fixture (tests/conftest.py): the embedded stack with the services running.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests import events
from tests.support import RunningSystem, Tenant, seed_deal


async def _seed(system: RunningSystem, tenant: Tenant, deal_id: str, *, owner: str = "rep-1", risk: int | None = 80,
                amount: float = 10_000, closed: bool = False, age: timedelta = timedelta(minutes=5),
                created_ago: timedelta = timedelta(days=1), verdict: bool = False) -> None:
    """A deal, and unless ``risk`` is None its latest score (``age`` old) and optionally a verdict."""
    await seed_deal(system, tenant, deal_id, owner=owner, risk=risk, amount=amount, is_closed=closed, scored_ago=age,
                    created_ago=created_ago, verdict=events.verdict_data(owner_id=owner) if verdict else None)


async def _get(system: RunningSystem, tenant: Tenant, path: str, role: str = "admin", user: str = "admin-1",
               **params: Any) -> httpx.Response:
    return await system.gateway("GET", path, tenant, role, user, params=params)


async def test_deal_with_its_latest_score_and_verdict_and_their_ages(system: RunningSystem) -> None:
    tenant = await system.new_tenant("gwrest")
    await _seed(system, tenant, "D-1", risk=82, age=timedelta(minutes=10), verdict=True)

    response = await _get(system, tenant, "/v1/deals/D-1")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["deal"]["deal_id"] == "D-1" and body["deal"]["amount"] == 10_000
    assert body["score"]["risk_score"] == 82 and body["score"]["risk_category"] == "critical"
    assert "deal" not in body["score"], "the score must not repeat the deal"
    assert 590 <= body["score"]["age_seconds"] <= 660
    assert body["verdict"]["ai_verdict"] == "pipeline" and 590 <= body["verdict"]["age_seconds"] <= 660
    assert body["stale"] is False and body["deleted_at"] is None


async def test_staleness_after_fourteen_days_without_a_score(system: RunningSystem) -> None:
    tenant = await system.new_tenant("gwstale")
    await _seed(system, tenant, "D-old-score", age=timedelta(days=15))
    await _seed(system, tenant, "D-never-scored", risk=None, created_ago=timedelta(days=20))
    await _seed(system, tenant, "D-new", risk=None, created_ago=timedelta(minutes=1))

    old, never, new = [(await _get(system, tenant, f"/v1/deals/{d}")).json()
                       for d in ("D-old-score", "D-never-scored", "D-new")]

    assert old["stale"] is True and old["score"]["age_seconds"] > 14 * 86400
    assert never["stale"] is True and never["score"] is None and never["verdict"] is None
    assert new["stale"] is False


async def test_other_tenants_deal_is_not_found_and_a_rep_reads_only_their_own(system: RunningSystem) -> None:
    tenant, other = await system.new_tenant("gwown"), await system.new_tenant("gwoth")
    await _seed(system, tenant, "D-mine", owner="rep-1")
    await _seed(system, tenant, "D-theirs", owner="rep-2")

    assert (await _get(system, tenant, "/v1/deals/D-mine", "rep", "rep-1")).status_code == 200
    forbidden = await _get(system, tenant, "/v1/deals/D-theirs", "rep", "rep-1")
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == "application/problem+json"
    # A manager nobody reports to sees only their own deals (teams: tests/integration/test_rbac_matrix.py).
    assert (await _get(system, tenant, "/v1/deals/D-theirs", "manager", "manager-1")).status_code == 403
    for response in (await _get(system, other, "/v1/deals/D-mine"), await _get(system, tenant, "/v1/deals/nope")):
        assert response.status_code == 404
        assert response.json()["title"] == "Not found"


async def test_high_risk_lists_open_high_and_critical_deals_with_totals(system: RunningSystem) -> None:
    tenant = await system.new_tenant("gwhr")
    await _seed(system, tenant, "D-crit", risk=90, amount=100_000)
    await _seed(system, tenant, "D-high", risk=60, amount=300_000, owner="rep-2")
    await _seed(system, tenant, "D-high2", risk=70, amount=50_000)
    await _seed(system, tenant, "D-medium", risk=40, amount=999_999)
    await _seed(system, tenant, "D-closed", risk=95, amount=999_999, closed=True)

    body = (await _get(system, tenant, "/v1/deals/high-risk")).json()

    assert [d["deal_id"] for d in body["deals"]] == ["D-crit", "D-high2", "D-high"]
    first = body["deals"][0]
    assert first["name"] == "Deal D-crit" and first["account_name"] == "Acme" and first["stage"] == "proposal"
    assert first["owner_name"] == "Name of rep-1" and first["win_probability"] == 0.1
    assert first["top_factor"]["label"] == "Stalled" and first["age_seconds"] >= 0
    assert body["pagination"] == {"total_count": 3, "limit": 50, "offset": 0, "has_more": False}
    summary = body["summary"]
    assert {k: summary[k] for k in ("total_at_risk_revenue", "average_risk_score", "deals_by_category")} == {
        "total_at_risk_revenue": 450_000, "average_risk_score": 73.3, "deals_by_category": {"high": 2, "critical": 1}}
    assert summary["at_risk_revenue"]["by_currency"] == {"USD": {"amount": 450_000, "deals": 3}}
    assert first["currency"] == "USD"

    by_amount = (await _get(system, tenant, "/v1/deals/high-risk", sort_by="amount", order="asc", limit=2)).json()
    assert [d["deal_id"] for d in by_amount["deals"]] == ["D-high2", "D-crit"]
    assert by_amount["pagination"]["has_more"] is True
    page_two = (await _get(system, tenant, "/v1/deals/high-risk", sort_by="amount", order="asc", limit=2,
                           offset=2)).json()
    assert [d["deal_id"] for d in page_two["deals"]] == ["D-high"]

    critical = (await _get(system, tenant, "/v1/deals/high-risk", risk_category="critical")).json()
    assert [d["deal_id"] for d in critical["deals"]] == ["D-crit"]
    everything = (await _get(system, tenant, "/v1/deals/high-risk", risk_category="low,medium,high,critical")).json()
    assert everything["pagination"]["total_count"] == 4

    mine = (await _get(system, tenant, "/v1/deals/high-risk", role="rep", user="rep-1")).json()
    assert {d["deal_id"] for d in mine["deals"]} == {"D-crit", "D-high2"}


async def test_invalid_listing_parameters_are_422_problems(system: RunningSystem) -> None:
    tenant = await system.new_tenant("gw422")
    for params in ({"limit": 201}, {"limit": 0}, {"offset": -1}, {"sort_by": "name"}, {"order": "sideways"},
                   {"risk_category": "severe"}, {"limit": "ten"}):
        response = await _get(system, tenant, "/v1/deals/high-risk", **params)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"], params

