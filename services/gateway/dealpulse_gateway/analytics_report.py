"""Assembling the analytics answers from what the store read: trends against the daily snapshots and shifted
periods, and one row per rep. Pure: no I/O (the figures themselves are ``analytics``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from dealpulse_gateway.analytics import (
    SNAPSHOT_TOLERANCE_DAYS,
    TREND_DAYS,
    ClosedCounts,
    Period,
    PipelineTotals,
    closed_change,
    closed_figures,
    per_currency,
    pipeline_change,
    pipeline_figures,
)
from dealpulse_gateway.analytics_views import (
    PastClosed,
    PastPipeline,
    PipelineFigures,
    RepFigures,
    TrendPoint,
)
from dealpulse_gateway.money import ReportingSettings


def trend_windows(period: Period) -> list[Period]:
    """The period, then the period shifted back by each trend's days (``closed_counts`` reads them in one go)."""
    return [period, *(period.shifted(days) for days in TREND_DAYS)]


def snapshot_day_for(days: Sequence[date], target: date) -> date | None:
    """The snapshot a trend to ``target`` compares with: that day's, else the latest of the few days before."""
    earliest = target - timedelta(days=SNAPSHOT_TOLERANCE_DAYS)
    candidates = [day for day in days if earliest <= day <= target]
    return max(candidates) if candidates else None


def trend_points(now: PipelineFigures, period: Period, counts: Sequence[ClosedCounts],
                 snapshot_days: Mapping[int, date | None], snapshots: Mapping[date, Mapping[str, PipelineTotals]],
                 reporting: ReportingSettings) -> list[TrendPoint]:
    """One point per trend: the open pipeline of the snapshot then, and the period shifted back, each with its
    change to now (``counts``: the windows of ``trend_windows``)."""
    closed_now = closed_figures(period, counts[0])
    points = []
    for days, window_counts in zip(TREND_DAYS, counts[1:], strict=True):
        closed_then = closed_figures(period.shifted(days), window_counts)
        day = snapshot_days.get(days)
        past = None
        if day is not None:
            then = pipeline_figures(snapshots.get(day, {}), reporting)
            past = PastPipeline(snapshot_day=day, figures=then, change=pipeline_change(now, then))
        points.append(TrendPoint(days=days, pipeline=past,
                                 closed=PastClosed(figures=closed_then, change=closed_change(closed_now, closed_then))))
    return points


def rep_rows(totals: Mapping[tuple[str, str], PipelineTotals], closed: Mapping[str, Sequence[ClosedCounts]],
             names: Mapping[str, str], period: Period, reporting: ReportingSettings) -> list[RepFigures]:
    """A row per owner with open deals or deals closed in the period, largest open pipeline first."""
    owners = sorted({owner for owner, _ in totals} | set(closed))
    rows = []
    for owner in owners:
        figures = pipeline_figures(per_currency({key: t for key, t in totals.items() if key[0] == owner}), reporting)
        closed_then = closed_figures(period, (closed.get(owner) or [ClosedCounts()])[0])
        admission = figures.commit_admission
        rows.append(RepFigures(
            owner_id=owner or None, owner_name=names.get(owner), open_deals=figures.open_deals,
            pipeline_value=figures.pipeline_value, risk_adjusted_value=figures.risk_adjusted_value,
            high_risk_deals=figures.risk_distribution["high"].deals + figures.risk_distribution["critical"].deals,
            average_risk_score=figures.average_risk_score, win_rate=closed_then.win_rate,
            cycle_time=closed_then.cycle_time, commit_calls=admission.commit_calls,
            verified_commit_pct=admission.verified_pct))
    rows.sort(key=lambda row: (-row.pipeline_value.reporting.amount, row.owner_id or ""))
    return rows
