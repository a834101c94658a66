"""The analytics API: pipeline metrics, reps, trends and the reporting currency, each figure computed here again
from the rows the test inserted (mixed currencies, closed, deleted and pinned deals, overrides).

Read models are seeded as the database owner (``tests.support.seed_deal``). Needs the ``system`` fixture.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dealpulse_common.events import CommitAdmission, ForecastBucket, VerdictOverride
from tests import events
from tests.support import RunningSystem, Tenant, poll_until, seed_deal

RATES = {"EUR": 1.1}  # JPY has none: not convertible
WEIGHTS = {"pipeline": 0.2, "best_case": 0.6, "commit": 1.0}


@dataclass(frozen=True)
class Open:
    deal_id: str
    owner: str
    currency: str
    amount: float
    risk: int
    forecast: str | None  # the rep's call
    ai_verdict: str | None  # None: no verdict yet
    admission: str = "not_applicable"
    override: str | None = None
    scored_days_ago: int = 0

    @property
    def win_probability(self) -> float:
        return (100 - self.risk) / 100  # as tests.events.scored_data derives it

    @property
    def call(self) -> str | None:
        return self.override or self.ai_verdict


OPEN = [
    Open("O1", "rep-1", "USD", 100_000, 20, "commit", "commit", "admitted"),
    Open("O2", "rep-1", "EUR", 50_000, 60, "best_case", "pipeline", override="commit"),
    Open("O3", "rep-2", "USD", 200_000, 80, "commit", "pipeline", "not_admitted"),
    Open("O4", "rep-2", "JPY", 1_000_000, 40, "pipeline", "best_case"),
    Open("O5", "rep-1", "usd", 30_000, 55, None, None, scored_days_ago=20),  # unjudged, stale, lower-case code
    Open("O6", "rep-3", "EUR", 10_000, 30, "commit", "commit", "needs_review"),
]


@dataclass(frozen=True)
class Closed:
    deal_id: str
    owner: str
    won: bool | None
    closed_days_ago: int | None
    cycle_days: int = 30


CLOSED = [
    Closed("C-won", "rep-1", True, 10, cycle_days=40),
    Closed("C-won-2", "rep-2", True, 50, cycle_days=20),
    Closed("C-lost", "rep-2", False, 5),
    Closed("C-unsaid", "rep-3", None, 20),  # closed without saying won: lost
    Closed("C-old", "rep-1", True, 200),  # outside the 90-day period
    Closed("C-shifted", "rep-1", False, 95),  # only in the period shifted back 7 / 30 days
    Closed("C-no-date", "rep-1", True, None),  # in no period
]


async def _seed_world(system: RunningSystem, tenant: Tenant, report: bool = True) -> datetime:
    """OPEN and CLOSED and two deals never open; ``report``: USD reporting at RATES with WEIGHTS."""
    now = datetime.now(UTC)
    for d in OPEN:
        override = None if d.override is None else VerdictOverride(
            forecast_category=ForecastBucket(d.override), reason="Signed order form", overridden_by="mgr-1",
            overridden_at=now, ai_verdict=ForecastBucket(d.ai_verdict))
        verdict = None if d.ai_verdict is None else events.verdict_data(
            ai_forecast=d.ai_verdict, ai_verdict=d.ai_verdict, commit_admission=CommitAdmission(d.admission),
            owner_id=d.owner, override=override)
        await seed_deal(system, tenant, d.deal_id, owner=d.owner, amount=d.amount, risk=d.risk, currency=d.currency,
                        forecast_category=d.forecast, verdict=verdict, scored_ago=timedelta(days=d.scored_days_ago))
    for c in CLOSED:
        closed_at = None if c.closed_days_ago is None else now - timedelta(days=c.closed_days_ago)
        outcome = ForecastBucket.CLOSED_WON if c.won else ForecastBucket.CLOSED_LOST
        await seed_deal(system, tenant, c.deal_id, owner=c.owner, amount=70_000, risk=90, is_closed=True,
                        is_won=c.won, closed_at=closed_at,
                        created_at=(closed_at or now) - timedelta(days=c.cycle_days),
                        verdict=events.verdict_data(ai_forecast=outcome, ai_verdict=outcome, forecast_basis="outcome",
                                                    predictive_eligible=False, owner_id=c.owner))
    # Never open pipeline: deleted in the CRM before the scorer took the tombstone; pinned to an outcome by its
    # verdict while its latest score still says open.
    await seed_deal(system, tenant, "X-deleted", amount=999_999, risk=90, deleted=True)
    await seed_deal(system, tenant, "X-pinned", amount=888_888, risk=90, verdict=events.verdict_data(
        ai_forecast=ForecastBucket.CLOSED_WON, ai_verdict=ForecastBucket.CLOSED_WON, forecast_basis="outcome",
        predictive_eligible=False))
    if report:
        response = await system.gateway("PUT", "/v1/admin/reporting", tenant, json={
            "currency": "USD", "rates": RATES, "rates_as_of": "2026-12-01", "forecast_weights": WEIGHTS})
        assert response.status_code == 200, response.text
    return now


# ---------------------------------------------------------------- the figures, computed again here


def _per_currency(deals: list[Open], amount: Any = lambda d: d.amount) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = defaultdict(lambda: {"amount": 0.0, "deals": 0})
    for d in deals:
        found[d.currency.upper()]["amount"] += amount(d)
        found[d.currency.upper()]["deals"] += 1
    return {currency: {"amount": pytest.approx(v["amount"]), "deals": v["deals"]} for currency, v in found.items()}


def _assert_money(figure: dict[str, Any], deals: list[Open], amount: Any = lambda d: d.amount) -> None:
    assert figure["by_currency"] == _per_currency(deals, amount)
    assert figure["deals"] == len(deals)
    convertible = [d for d in deals if d.currency.upper() in ("USD", *RATES)]
    assert figure["reporting"]["amount"] == pytest.approx(
        sum(amount(d) * RATES.get(d.currency.upper(), 1.0) for d in convertible), abs=0.01)
    missing = {d.currency.upper() for d in deals} - {d.currency.upper() for d in convertible}
    assert figure["reporting"]["complete"] is not missing
    assert set(figure["reporting"]["not_convertible"]) == missing


def _weight(call: str | None) -> float:
    return WEIGHTS.get(call or "pipeline", 0.0)


def _closed_in(start: datetime, end: datetime, now: datetime, owner: str | None = None) -> list[Closed]:
    return [c for c in CLOSED if c.closed_days_ago is not None and (owner is None or c.owner == owner)
            and start <= now - timedelta(days=c.closed_days_ago) < end]


def _win_rate(closed: list[Closed]) -> float | None:
    won = sum(1 for c in closed if c.won)
    return round(100 * won / len(closed), 1) if closed else None


def _cycle(closed: list[Closed]) -> float | None:
    won = [c.cycle_days for c in closed if c.won]
    return round(sum(won) / len(won), 1) if won else None


# ---------------------------------------------------------------- tests


async def test_pipeline_metrics_are_the_open_pipeline_per_currency_and_converted(system: RunningSystem) -> None:
    tenant = await system.new_tenant("metrics")
    await _seed_world(system, tenant)

    response = await system.gateway("GET", "/v1/pipeline/metrics", tenant, params={"period": "90d"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reporting"] == {"currency": "USD", "rates": RATES, "rates_as_of": "2026-12-01", "configured": True}
    pipeline = body["pipeline"]
    assert pipeline["open_deals"] == len(OPEN)
    assert pipeline["scored_recently_pct"] == round(100 * 5 / 6, 1)  # O5 was scored 20 days ago
    _assert_money(pipeline["pipeline_value"], OPEN)
    _assert_money(pipeline["risk_adjusted_value"], OPEN, lambda d: d.amount * d.win_probability)
    _assert_money(pipeline["optimism_gap"], OPEN, lambda d: d.amount * (1 - d.win_probability))
    at_risk = [d for d in OPEN if d.risk > 50]
    _assert_money(pipeline["revenue_at_risk"], at_risk)
    assert pipeline["revenue_at_risk"]["scored_recently_pct"] == round(100 * 2 / 3, 1)
    for category, (low, high) in {"low": (0, 25), "medium": (26, 50), "high": (51, 75),
                                  "critical": (76, 100)}.items():
        band = [d for d in OPEN if low <= d.risk <= high]
        assert pipeline["risk_distribution"][category]["deals"] == len(band)
        _assert_money(pipeline["risk_distribution"][category]["amount"], band)
    assert pipeline["average_risk_score"] == round(sum(d.risk for d in OPEN) / len(OPEN), 1)

    forecast = pipeline["forecast"]
    assert forecast["uses_overrides"] is True and forecast["weights"] == WEIGHTS
    _assert_money(forecast["crm_weighted"], OPEN, lambda d: d.amount * _weight(d.forecast))
    judged = [d for d in OPEN if d.ai_verdict]
    _assert_money(forecast["ai_weighted"], judged, lambda d: d.amount * _weight(d.call))
    _assert_money(forecast["ai_weighted_without_overrides"], judged, lambda d: d.amount * _weight(d.ai_verdict))
    _assert_money(forecast["crm_commit"], [d for d in OPEN if d.forecast == "commit"])
    _assert_money(forecast["ai_commit"], [d for d in judged if d.call == "commit"])
    assert forecast["overridden_deals"] == 1 and forecast["unjudged_deals"] == 1

    admission = pipeline["commit_admission"]
    assert admission["uses_overrides"] is False and admission["commit_calls"] == 3
    for name, status in (("verified", "admitted"), ("needs_review", "needs_review"),
                         ("unsupported", "not_admitted")):
        _assert_money(admission[name], [d for d in OPEN if d.admission == status])
    assert admission["verified_pct"] == round(100 / 3, 1)

    now = datetime.fromisoformat(body["as_of"])
    in_period = _closed_in(now - timedelta(days=90), now, now)
    closed = body["closed"]
    assert closed["win_rate"] == {"pct": _win_rate(in_period), "won": sum(1 for c in in_period if c.won),
                                  "lost": sum(1 for c in in_period if not c.won), "deals": len(in_period)}
    assert closed["cycle_time"] == {"avg_days": _cycle(in_period), "deals": sum(1 for c in in_period if c.won)}
    trends = {point["days"]: point for point in body["trends"]}
    assert sorted(trends) == [7, 30, 90]
    for days, point in trends.items():
        assert point["pipeline"] is None, "no snapshot that old for a tenant made a moment ago"
        shifted = _closed_in(now - timedelta(days=90 + days), now - timedelta(days=days), now)
        assert point["closed"]["figures"]["win_rate"]["pct"] == _win_rate(shifted)
        then, current = _win_rate(shifted), _win_rate(in_period)
        expected = None if then is None or current is None else round(current - then, 1)
        assert point["closed"]["change"]["win_rate_points"] == expected


async def test_a_rep_sees_their_own_figures_and_owner_and_team_narrow_them(system: RunningSystem) -> None:
    tenant = await system.new_tenant("metscope")
    await _seed_world(system, tenant)
    await system.admin_fetch(
        "INSERT INTO users (tenant_id, user_id, name, role, manager_id) VALUES ($1, 'mgr-1', 'Mia', 'manager', NULL), "
        "($1, 'rep-2', 'Ravi', 'rep', 'mgr-1'), ($1, 'rep-3', 'Rosa', 'rep', 'rep-2')", tenant.tenant_id)

    async def open_value(role: str, user: str, **params: str) -> dict[str, Any]:
        response = await system.gateway("GET", "/v1/pipeline/metrics", tenant, role, user, params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    mine = await open_value("rep", "rep-1")
    assert mine["scope"]["owners"] == ["rep-1"]
    _assert_money(mine["pipeline"]["pipeline_value"], [d for d in OPEN if d.owner == "rep-1"])
    assert (await open_value("rep", "rep-1", owner="rep-1"))["pipeline"]["open_deals"] == 3
    owner = await open_value("manager", "mgr-1", owner="rep-2")
    _assert_money(owner["pipeline"]["pipeline_value"], [d for d in OPEN if d.owner == "rep-2"])
    team = await open_value("manager", "mgr-1", team="mgr-1")  # rep-2 directly, rep-3 through rep-2
    _assert_money(team["pipeline"]["pipeline_value"], [d for d in OPEN if d.owner in ("rep-2", "rep-3")])
    assert sorted(team["scope"]["owners"]) == ["mgr-1", "rep-2", "rep-3"]

    for params in ({"owner": "rep-2"}, {"team": "mgr-1"}):
        forbidden = await system.gateway("GET", "/v1/pipeline/metrics", tenant, "rep", "rep-1", params=params)
        assert forbidden.status_code == 403, params
        assert forbidden.headers["content-type"] == "application/problem+json"


async def test_reps_figures_per_owner(system: RunningSystem) -> None:
    tenant = await system.new_tenant("reps")
    await _seed_world(system, tenant)
    await system.admin_fetch("INSERT INTO users (tenant_id, user_id, name, role) VALUES ($1, 'rep-2', 'Ravi', 'rep')",
                             tenant.tenant_id)

    response = await system.gateway("GET", "/v1/reps", tenant, params={"period": "90d"})

    assert response.status_code == 200, response.text
    body = response.json()
    rows = {row["owner_id"]: row for row in body["reps"]}
    assert set(rows) == {"rep-1", "rep-2", "rep-3"}
    assert rows["rep-2"]["owner_name"] == "Ravi" and rows["rep-1"]["owner_name"] == "Name of rep-1"
    now = datetime.fromisoformat(body["as_of"])
    for owner, row in rows.items():
        mine = [d for d in OPEN if d.owner == owner]
        assert row["open_deals"] == len(mine)
        _assert_money(row["pipeline_value"], mine)
        _assert_money(row["risk_adjusted_value"], mine, lambda d: d.amount * d.win_probability)
        assert row["high_risk_deals"] == sum(1 for d in mine if d.risk > 50)
        assert row["average_risk_score"] == round(sum(d.risk for d in mine) / len(mine), 1)
        calls = [d for d in mine if d.admission != "not_applicable"]
        assert row["commit_calls"] == len(calls)
        verified = sum(1 for d in calls if d.admission == "admitted")
        assert row["verified_commit_pct"] == (round(100 * verified / len(calls), 1) if calls else None)
        closed = _closed_in(now - timedelta(days=90), now, now, owner)
        assert row["win_rate"]["pct"] == _win_rate(closed) and row["win_rate"]["deals"] == len(closed)
        assert row["cycle_time"]["avg_days"] == _cycle(closed)
    reporting = [row["pipeline_value"]["reporting"]["amount"] for row in body["reps"]]
    assert reporting == sorted(reporting, reverse=True), "largest open pipeline first"

    own = (await system.gateway("GET", "/v1/reps", tenant, "rep", "rep-3")).json()
    assert [row["owner_id"] for row in own["reps"]] == ["rep-3"]


async def test_trends_compare_with_the_daily_snapshots(system: RunningSystem) -> None:
    tenant = await system.new_tenant("trends")
    await _seed_world(system, tenant)
    today = datetime.now(UTC).date()
    then_usd, then_eur = 150_000.0, 40_000.0
    for day in (today - timedelta(days=7), today - timedelta(days=92)):  # 92: within 3 days of the 90-day point
        await _snapshot(system, tenant, day, {("rep-1", "USD"): then_usd, ("rep-1", "EUR"): then_eur,
                                              ("rep-2", "USD"): 5_000.0})

    body = (await system.gateway("GET", "/v1/pipeline/metrics", tenant)).json()
    rep_scoped = (await system.gateway("GET", "/v1/pipeline/metrics", tenant, "rep", "rep-1")).json()

    trends = {point["days"]: point for point in body["trends"]}
    assert trends[30]["pipeline"] is None
    assert trends[90]["pipeline"]["snapshot_day"] == (today - timedelta(days=92)).isoformat()
    week = trends[7]["pipeline"]
    assert week["snapshot_day"] == (today - timedelta(days=7)).isoformat()
    assert week["figures"]["pipeline_value"]["by_currency"] == {
        "EUR": {"amount": then_eur, "deals": 1}, "USD": {"amount": then_usd + 5_000, "deals": 2}}
    now_usd = sum(d.amount for d in OPEN if d.currency.upper() == "USD")
    change = week["change"]["pipeline_value"]
    assert change["by_currency"] == {"USD": pytest.approx(now_usd - then_usd - 5_000),
                                     "EUR": pytest.approx(60_000 - then_eur), "JPY": pytest.approx(1_000_000)}
    assert change["reporting"] is None, "JPY has no rate: now is not complete"
    assert week["change"]["open_deals"] == len(OPEN) - 3
    mine = {p["days"]: p for p in rep_scoped["trends"]}[7]["pipeline"]
    assert mine["figures"]["pipeline_value"]["by_currency"]["USD"] == {"amount": then_usd, "deals": 1}


async def test_the_gateway_takes_each_tenants_daily_snapshot(system: RunningSystem) -> None:
    tenant = await system.new_tenant("snap", register=False)  # the snapshot job visits it once registered
    await _seed_world(system, tenant, report=False)
    await system.register_tenant(tenant)

    today = datetime.now(UTC).date()
    await poll_until(lambda: system.admin_fetch(
        "SELECT 1 FROM pipeline_snapshot_days WHERE tenant_id = $1 AND day = $2", tenant.tenant_id, today),
        timeout=30)

    rows = await system.admin_fetch(
        "SELECT owner_id, currency, open_deals, pipeline_value, risk_adjusted_value, final_commit_amount "
        "FROM pipeline_daily WHERE tenant_id = $1 AND day = $2", tenant.tenant_id, today)
    kept = {(r["owner_id"], r["currency"]): (r["open_deals"], r["pipeline_value"], r["risk_adjusted_value"],
                                             r["final_commit_amount"]) for r in rows}
    expected: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    for d in OPEN:
        totals = expected[(d.owner, d.currency.upper())]
        totals[0] += 1
        totals[1] += d.amount
        totals[2] += d.amount * d.win_probability
        totals[3] += d.amount if d.call == "commit" else 0.0
    assert kept == {key: pytest.approx(tuple(values)) for key, values in expected.items()}


async def test_the_daily_snapshot_counts_recent_scores_by_the_tenants_own_staleness_window(
        system: RunningSystem) -> None:
    tenant = await system.new_tenant("snapst")
    await _seed_world(system, tenant, report=False)
    response = await system.gateway("PUT", "/v1/admin/settings", tenant, json={"staleness": {"stale_after_days": 30}})
    assert response.status_code == 200, response.text
    today = datetime.now(UTC).date()
    claimed = ("SELECT 1 FROM pipeline_snapshot_days WHERE tenant_id = $1 AND day = $2", tenant.tenant_id, today)
    # The job may have visited the tenant before its setting was saved: drop that snapshot and wait for a new one.
    await poll_until(lambda: system.admin_fetch(*claimed), timeout=30)
    await system.admin_fetch("DELETE FROM pipeline_daily WHERE tenant_id = $1 AND day = $2", tenant.tenant_id, today)
    await system.admin_fetch("DELETE FROM pipeline_snapshot_days WHERE tenant_id = $1 AND day = $2",
                             tenant.tenant_id, today)
    await poll_until(lambda: system.admin_fetch(*claimed), timeout=30)

    [row] = await system.admin_fetch(
        "SELECT open_deals, scored_recently FROM pipeline_daily WHERE tenant_id = $1 AND day = $2 "
        "AND owner_id = 'rep-1' AND currency = 'USD'", tenant.tenant_id, today)
    # O1 scored now and O5 twenty days ago: stale by the default 14 days, recent by the tenant's 30.
    assert (row["open_deals"], row["scored_recently"]) == (2, 2)


async def test_reporting_settings_are_admin_only_validated_and_audited(system: RunningSystem) -> None:
    tenant = await system.new_tenant("reporting")
    default = await system.gateway("GET", "/v1/admin/reporting", tenant)
    assert default.json()["configured"] is False and default.json()["currency"] == "USD"

    for body in ({"currency": "dollars"}, {"rates": {"EUR": 0}}, {"rates": {"EURO": 1.1}},
                 {"forecast_weights": {"commit": 1.5}}, {"surprise": True}):
        refused = await system.gateway("PUT", "/v1/admin/reporting", tenant, json=body)
        assert refused.status_code == 422, body
        assert refused.headers["content-type"] == "application/problem+json"
    assert (await system.gateway("PUT", "/v1/admin/reporting", tenant, "manager", "mgr-1",
                                 json={"currency": "EUR"})).status_code == 403

    written = await system.gateway("PUT", "/v1/admin/reporting", tenant, json={"currency": "eur",
                                                                              "rates": {"usd": 0.92}})
    assert written.status_code == 200, written.text
    assert written.json()["currency"] == "EUR" and written.json()["rates"] == {"USD": 0.92}
    await seed_deal(system, tenant, "D-usd", amount=1_000, currency="USD")
    metrics = (await system.gateway("GET", "/v1/pipeline/metrics", tenant)).json()
    assert metrics["pipeline"]["pipeline_value"]["reporting"] == {
        "currency": "EUR", "amount": 920.0, "complete": True, "rates": {"USD": 0.92}, "rates_as_of": None,
        "not_convertible": {}}
    audit = await system.admin_fetch("SELECT actor, detail FROM audit_log WHERE tenant_id = $1 AND action = $2",
                                     tenant.tenant_id, "reporting.update")
    assert [row["actor"] for row in audit] == ["test-admin"]


async def test_invalid_analytics_parameters_are_422_problems(system: RunningSystem) -> None:
    tenant = await system.new_tenant("met422")
    for path, params in (("/v1/pipeline/metrics", {"period": "forever"}), ("/v1/pipeline/metrics", {"period": "0d"}),
                         ("/v1/pipeline/metrics", {"period": "999d"}), ("/v1/reps", {"period": "last-week"}),
                         ("/v1/pipeline/metrics", {"owner": ""})):
        response = await system.gateway("GET", path, tenant, params=params)
        assert response.status_code == 422, (path, params)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"], params


async def _snapshot(system: RunningSystem, tenant: Tenant, day: Any, pipeline: dict[tuple[str, str], float]) -> None:
    """A past day's snapshot as the gateway keeps it: every total 0 but open deals (one each) and pipeline value."""
    await system.admin_fetch("INSERT INTO pipeline_snapshot_days (tenant_id, day) VALUES ($1, $2)",
                             tenant.tenant_id, day)
    columns = await system.admin_fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'pipeline_daily' "
        "AND column_name NOT IN ('tenant_id', 'day', 'owner_id', 'currency', 'open_deals', 'pipeline_value')")
    zeros = ", ".join(row["column_name"] for row in columns)
    for (owner, currency), value in pipeline.items():
        await system.admin_fetch(
            f"INSERT INTO pipeline_daily (tenant_id, day, owner_id, currency, open_deals, pipeline_value, {zeros}) "
            f"VALUES ($1, $2, $3, $4, 1, $5, {', '.join('0' for _ in columns)})",
            tenant.tenant_id, day, owner, currency, value)


async def test_cached_figures_last_only_while_nothing_in_the_pipeline_changed(system: RunningSystem) -> None:
    tenant = await system.new_tenant("metcache")
    await seed_deal(system, tenant, "K1", amount=10_000, risk=20)
    await seed_deal(system, tenant, "K2", amount=5_000, risk=90, verdict=events.verdict_data(owner_id="rep-1"))

    async def pipeline() -> dict[str, Any]:
        response = await system.gateway("GET", "/v1/pipeline/metrics", tenant)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()["pipeline"]
        return body

    first = await pipeline()
    hits = await _cache_reads(system, "hit")
    assert await pipeline() == first
    assert await _cache_reads(system, "hit") == hits + 1, "the unchanged pipeline was read from the cache"

    # As the scorer, verdict and ingest would write: each change is in the very next answer.
    await system.admin_fetch("UPDATE deal_risk SET amount = 25000 WHERE tenant_id = $1 AND deal_id = 'K1'",
                             tenant.tenant_id)
    assert (await pipeline())["pipeline_value"]["by_currency"]["USD"]["amount"] == pytest.approx(30_000)
    await system.admin_fetch(
        "UPDATE deal_verdict SET payload = jsonb_set(payload, '{override}', $2::jsonb) "
        "WHERE tenant_id = $1 AND deal_id = 'K2'", tenant.tenant_id,
        '{"forecast_category": "commit", "reason": "Signed", "overridden_by": "mgr-1", '
        '"overridden_at": "2026-12-01T00:00:00Z", "ai_verdict": "pipeline"}')
    assert (await pipeline())["forecast"]["overridden_deals"] == 1
    await system.admin_fetch("UPDATE deals SET deleted_at = now() WHERE tenant_id = $1 AND deal_id = 'K1'",
                             tenant.tenant_id)
    assert (await pipeline())["open_deals"] == 1


async def _cache_reads(system: RunningSystem, result: str) -> float:
    return sum(s.value for s in await system.metric_samples("gateway", "dealpulse_pipeline_cache_total")
               if s.labels.get("result") == result)
