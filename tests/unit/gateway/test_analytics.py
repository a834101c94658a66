"""The pipeline figures, pure: cells folded into totals, the figures of the open pipeline, periods and deals closed
in them, and trends against snapshots."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dealpulse_gateway.analytics import (
    Cell,
    ClosedCounts,
    Period,
    closed_figures,
    fold,
    parse_period,
    per_currency,
    pipeline_figures,
)
from dealpulse_gateway.analytics_report import rep_rows, snapshot_day_for, trend_points, trend_windows
from dealpulse_gateway.money import ForecastWeights, ReportingSettings

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
REPORTING = ReportingSettings(currency="USD", rates={"EUR": 2.0},
                              forecast_weights=ForecastWeights(pipeline=0.1, best_case=0.5, commit=1.0))


def cell(amount: float, *, owner: str = "rep-1", currency: str = "USD", risk: str = "high",
         forecast: str | None = "pipeline", ai: str | None = "pipeline", override: str | None = None,
         admission: str | None = "not_applicable", recent: bool = True, deals: int = 1,
         win_probability: float = 0.5, risk_score: int = 60) -> Cell:
    return Cell(owner_id=owner, currency=currency, risk_category=risk, forecast_category=forecast, ai_verdict=ai,
                override=override, admission=admission, recent=recent, deals=deals, amount=amount,
                risk_adjusted=amount * win_probability, risk_score_sum=risk_score * deals)


def figures(*cells: Cell):  # type: ignore[no-untyped-def]
    return pipeline_figures(per_currency(fold(cells)), REPORTING)


def test_pipeline_risk_adjusted_value_and_the_optimism_gap() -> None:
    result = figures(cell(100.0, win_probability=0.8), cell(50.0, currency="EUR", win_probability=0.2))

    assert result.pipeline_value.reporting.amount == 200.0  # 100 USD + 50 EUR × 2
    assert result.risk_adjusted_value.by_currency["USD"].amount == 80.0
    assert result.risk_adjusted_value.reporting.amount == 100.0  # 80 + 10 × 2
    assert result.optimism_gap.reporting.amount == 100.0 and result.optimism_gap_pct == 50.0


def test_revenue_at_risk_and_the_distribution_by_category() -> None:
    result = figures(cell(10.0, risk="low", risk_score=10), cell(20.0, risk="high", recent=False),
                     cell(30.0, risk="critical", deals=2, risk_score=90))

    assert result.revenue_at_risk.deals == 3 and result.revenue_at_risk.reporting.amount == 50.0
    assert result.revenue_at_risk.scored_recently_pct == pytest.approx(66.7)
    assert {c: band.deals for c, band in result.risk_distribution.items()} == {
        "low": 1, "medium": 0, "high": 1, "critical": 2}
    assert result.risk_distribution["critical"].share_pct == 50.0
    assert result.average_risk_score == round((10 + 60 + 180) / 4, 1)
    assert result.scored_recently_pct == 75.0


def test_crm_and_ai_weighted_forecasts_and_the_override_in_place_of_the_ai_call() -> None:
    result = figures(cell(100.0, forecast="commit", ai="pipeline", override="best_case"),
                     cell(200.0, forecast=None, ai="commit"),  # no category: weighed as pipeline
                     cell(400.0, forecast="omitted", ai=None))  # omitted: weight 0; no verdict: unjudged

    forecast = result.forecast
    assert forecast.crm_weighted.reporting.amount == 100.0 + 20.0 + 0.0
    assert forecast.ai_weighted.reporting.amount == 50.0 + 200.0  # the override's best case, not the AI pipeline
    assert forecast.ai_weighted_without_overrides.reporting.amount == 10.0 + 200.0
    assert forecast.gap.reporting.amount == 120.0 - 250.0 and forecast.gap_pct == pytest.approx(-108.3)
    assert forecast.crm_commit.deals == 1 and forecast.ai_commit.reporting.amount == 200.0
    assert (forecast.overridden_deals, forecast.unjudged_deals) == (1, 1)
    assert forecast.ai_weighted.deals == 2, "the AI forecast rests on the judged deals"


def test_commit_admission_counts_the_evidence_not_the_overrides() -> None:
    result = figures(cell(10.0, admission="admitted"), cell(20.0, admission="admitted", override="pipeline"),
                     cell(30.0, admission="needs_review"), cell(40.0, admission="not_admitted"),
                     cell(50.0, admission="not_applicable", override="commit"))

    admission = result.commit_admission
    assert (admission.commit_calls, admission.verified.deals, admission.needs_review.deals,
            admission.unsupported.deals) == (4, 2, 1, 1)
    assert admission.verified.reporting.amount == 30.0 and admission.verified_pct == 50.0


def test_an_empty_pipeline_has_no_shares_or_means() -> None:
    result = figures()

    assert result.open_deals == 0 and result.scored_recently_pct is None and result.optimism_gap_pct is None
    assert result.average_risk_score is None and result.commit_admission.verified_pct is None


def test_totals_per_owner_for_snapshots_and_reps() -> None:
    totals = fold([cell(1.0, owner="a"), cell(2.0, owner="b"), cell(3.0, owner="a", currency="EUR")], by_owner=True)

    assert set(totals) == {("a", "USD"), ("b", "USD"), ("a", "EUR")}
    assert per_currency(totals)["USD"].pipeline_value == 3.0


@pytest.mark.parametrize(("text", "start"), [
    (None, NOW - timedelta(days=90)), ("7d", NOW - timedelta(days=7)), (" 365D ", NOW - timedelta(days=365)),
    ("mtd", datetime(2026, 11, 1, tzinfo=UTC)), ("qtd", datetime(2026, 10, 1, tzinfo=UTC)),
    ("ytd", datetime(2026, 1, 1, tzinfo=UTC)),
])
def test_periods(text: str | None, start: datetime) -> None:
    period = parse_period(text, NOW)
    assert (period.start, period.end) == (start, NOW)


@pytest.mark.parametrize("text", ["0d", "731d", "1w", "quarter", "", "-5d"])
def test_unknown_periods_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_period(text or "  ", NOW)


def test_win_rate_and_cycle_time_of_the_deals_closed_in_a_period() -> None:
    period = parse_period("30d", NOW)
    result = closed_figures(period, ClosedCounts(won=3, lost=1, cycle_days_sum=90.0, cycle_deals=3))

    assert (result.win_rate.pct, result.win_rate.deals, result.cycle_time.avg_days) == (75.0, 4, 30.0)
    assert closed_figures(period, ClosedCounts()).win_rate.pct is None


def test_trends_compare_with_a_snapshot_of_their_day_or_a_few_days_before() -> None:
    today = NOW.date()
    days = [today - timedelta(days=n) for n in (1, 8, 9, 40)]
    assert snapshot_day_for(days, today - timedelta(days=7)) == today - timedelta(days=8)
    assert snapshot_day_for(days, today - timedelta(days=30)) is None, "40 days is too far from 30"
    assert snapshot_day_for(days, today - timedelta(days=90)) is None


def test_a_trend_point_without_a_snapshot_still_compares_the_shifted_period() -> None:
    period = parse_period("30d", NOW)
    windows = trend_windows(period)
    assert [w.start for w in windows] == [period.start - timedelta(days=n) for n in (0, 7, 30, 90)]
    now_figures = figures(cell(100.0))
    past = per_currency(fold([cell(40.0)]))
    snapshot_day = date(2026, 11, 15)
    counts = [ClosedCounts(won=1, lost=1), ClosedCounts(won=1, lost=3), ClosedCounts(), ClosedCounts()]

    points = trend_points(now_figures, period, counts, {7: snapshot_day, 30: None, 90: None},
                          {snapshot_day: past}, REPORTING)

    week, month = points[0], points[1]
    assert week.pipeline is not None and week.pipeline.snapshot_day == snapshot_day
    assert week.pipeline.change.pipeline_value.reporting == 60.0 and week.pipeline.change.open_deals == 0
    assert week.closed.change.win_rate_points == 25.0
    assert month.pipeline is None and month.closed.change.win_rate_points is None


def test_reps_rows_largest_pipeline_first_including_reps_with_only_closed_deals() -> None:
    totals = fold([cell(10.0, owner="small", admission="admitted"), cell(90.0, owner="big", risk="critical")],
                  by_owner=True)
    period = Period("90d", NOW - timedelta(days=90), NOW)

    rows = rep_rows(totals, {"closer": [ClosedCounts(won=2, lost=0)]}, {"big": "Bea"}, period, REPORTING)

    assert [r.owner_id for r in rows] == ["big", "small", "closer"]
    assert rows[0].owner_name == "Bea" and rows[0].high_risk_deals == 1
    assert rows[1].verified_commit_pct == 100.0 and rows[2].win_rate.pct == 100.0 and rows[2].open_deals == 0
