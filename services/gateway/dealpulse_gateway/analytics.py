"""The pipeline figures, one implementation each: pure rules over what ``analytics_store`` reads, no I/O.

The store hands over *cells* — open deals grouped by everything a figure splits on (owner, currency, risk category,
the rep's call, the AI verdict, the override in force, commit admission, scored recently or not) — and closed-deal
counts per time window. ``fold`` turns cells into ``PipelineTotals`` per currency, the very row the daily snapshot
(``pipeline_daily``) keeps, so figures of today and of a past day come from one computation.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

from dealpulse_common.events import CommitAdmission, RiskCategory
from dealpulse_gateway.analytics_views import (
    ClosedChange,
    ClosedFigures,
    CommitAdmissionView,
    CycleTime,
    ForecastView,
    PeriodView,
    PipelineChange,
    PipelineFigures,
    RiskBand,
    WinRate,
)
from dealpulse_gateway.money import CurrencyAmount, Money, ReportingSettings, change, money, pct

TREND_DAYS = (7, 30, 90)
SNAPSHOT_TOLERANCE_DAYS = 3  # a trend compares with the snapshot of its day, or of up to this many days before
CALLS = ("pipeline", "best_case", "commit")
MAX_PERIOD_DAYS = 730
_TRAILING = re.compile(r"^(\d{1,3})d$")


@dataclass(frozen=True)
class Cell:
    """Open deals that agree on every split a figure makes (one row of ``analytics_store.open_cells``)."""

    owner_id: str  # "" for deals without an owner
    currency: str
    risk_category: str
    forecast_category: str | None  # the rep's call as the CRM sent it
    ai_verdict: str | None  # None: no verdict yet
    override: str | None  # the manager's call in force, if any
    admission: str | None
    recent: bool  # scored within the staleness window
    deals: int
    amount: float
    risk_adjusted: float
    risk_score_sum: int

    def rep_call(self) -> str:
        """The rep's call a forecast weighs: no category counts as pipeline; omitted (and closed) count for none."""
        category = self.forecast_category or "pipeline"
        return category if category in CALLS else "omitted"


@dataclass
class PipelineTotals:
    """Sums over one currency's open deals (and, in a snapshot, one owner's): the columns of ``pipeline_daily``."""

    open_deals: int = 0
    scored_recently: int = 0
    pipeline_value: float = 0.0
    risk_adjusted_value: float = 0.0
    risk_score_sum: int = 0
    low_deals: int = 0
    low_amount: float = 0.0
    low_recent: int = 0
    medium_deals: int = 0
    medium_amount: float = 0.0
    medium_recent: int = 0
    high_deals: int = 0
    high_amount: float = 0.0
    high_recent: int = 0
    critical_deals: int = 0
    critical_amount: float = 0.0
    critical_recent: int = 0
    rep_pipeline_amount: float = 0.0
    rep_best_case_amount: float = 0.0
    rep_commit_amount: float = 0.0
    rep_commit_deals: int = 0
    rep_omitted_amount: float = 0.0
    ai_pipeline_amount: float = 0.0
    ai_best_case_amount: float = 0.0
    ai_commit_amount: float = 0.0
    final_pipeline_amount: float = 0.0
    final_best_case_amount: float = 0.0
    final_commit_amount: float = 0.0
    final_commit_deals: int = 0
    unjudged_deals: int = 0
    overridden_deals: int = 0
    admitted_deals: int = 0
    admitted_amount: float = 0.0
    needs_review_deals: int = 0
    needs_review_amount: float = 0.0
    not_admitted_deals: int = 0
    not_admitted_amount: float = 0.0

    def add(self, cell: Cell) -> None:
        self._bump("open_deals", cell.deals)
        self._bump("pipeline_value", cell.amount)
        self._bump("risk_adjusted_value", cell.risk_adjusted)
        self._bump("risk_score_sum", cell.risk_score_sum)
        self._bump(f"{cell.risk_category}_deals", cell.deals)
        self._bump(f"{cell.risk_category}_amount", cell.amount)
        if cell.recent:
            self._bump("scored_recently", cell.deals)
            self._bump(f"{cell.risk_category}_recent", cell.deals)
        call = cell.rep_call()
        self._bump(f"rep_{call}_amount", cell.amount)
        if call == "commit":
            self._bump("rep_commit_deals", cell.deals)
        self._add_judgement(cell)
        if cell.admission in _ADMISSION_COLUMNS:
            self._bump(f"{_ADMISSION_COLUMNS[cell.admission]}_deals", cell.deals)
            self._bump(f"{_ADMISSION_COLUMNS[cell.admission]}_amount", cell.amount)

    def _add_judgement(self, cell: Cell) -> None:
        if cell.ai_verdict not in CALLS:  # not judged yet (a closed verdict never reaches the open pipeline)
            self._bump("unjudged_deals", cell.deals)
            return
        final = cell.override if cell.override in CALLS else cell.ai_verdict
        self._bump(f"ai_{cell.ai_verdict}_amount", cell.amount)
        self._bump(f"final_{final}_amount", cell.amount)
        if final == "commit":
            self._bump("final_commit_deals", cell.deals)
        if cell.override in CALLS:
            self._bump("overridden_deals", cell.deals)

    def _bump(self, name: str, by: float) -> None:
        setattr(self, name, getattr(self, name) + by)


TOTALS_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(PipelineTotals))
_ADMISSION_COLUMNS = {CommitAdmission.ADMITTED.value: "admitted", CommitAdmission.NEEDS_REVIEW.value: "needs_review",
                      CommitAdmission.NOT_ADMITTED.value: "not_admitted"}


def fold(cells: Iterable[Cell], by_owner: bool = False) -> dict[tuple[str, str], PipelineTotals]:
    """Totals per (owner, currency) — or per ("", currency) unless ``by_owner``."""
    totals: dict[tuple[str, str], PipelineTotals] = defaultdict(PipelineTotals)
    for cell in cells:
        totals[(cell.owner_id if by_owner else "", cell.currency)].add(cell)
    return dict(totals)


def per_currency(totals: Mapping[tuple[str, str], PipelineTotals]) -> dict[str, PipelineTotals]:
    """Totals per currency, whatever owners they were kept for."""
    merged: dict[str, PipelineTotals] = defaultdict(PipelineTotals)
    for (_, currency), part in totals.items():
        target = merged[currency]
        for name in TOTALS_COLUMNS:
            setattr(target, name, getattr(target, name) + getattr(part, name))
    return dict(merged)


# ---------------------------------------------------------------- the open pipeline


def pipeline_figures(totals: Mapping[str, PipelineTotals], reporting: ReportingSettings) -> PipelineFigures:
    open_deals = sum(t.open_deals for t in totals.values())
    pipeline = _money(totals, reporting, "pipeline_value", "open_deals", "scored_recently")
    gap = _money_of(totals, reporting, lambda t: (t.pipeline_value - t.risk_adjusted_value, t.open_deals),
                    recent=lambda t: t.scored_recently)
    return PipelineFigures(
        open_deals=open_deals, scored_recently_pct=pct(sum(t.scored_recently for t in totals.values()), open_deals),
        pipeline_value=pipeline,
        risk_adjusted_value=_money(totals, reporting, "risk_adjusted_value", "open_deals", "scored_recently"),
        optimism_gap=gap, optimism_gap_pct=pct(gap.reporting.amount, pipeline.reporting.amount),
        revenue_at_risk=_money_of(totals, reporting,
                                  lambda t: (t.high_amount + t.critical_amount, t.high_deals + t.critical_deals),
                                  recent=lambda t: t.high_recent + t.critical_recent),
        average_risk_score=_mean(sum(t.risk_score_sum for t in totals.values()), open_deals),
        risk_distribution={c.value: _risk_band(totals, reporting, c.value, open_deals) for c in RiskCategory},
        forecast=_forecast(totals, reporting), commit_admission=_commit_admission(totals, reporting),
    )


def _risk_band(totals: Mapping[str, PipelineTotals], reporting: ReportingSettings, category: str,
               open_deals: int) -> RiskBand:
    amount = _money(totals, reporting, f"{category}_amount", f"{category}_deals", f"{category}_recent")
    return RiskBand(deals=amount.deals, share_pct=pct(amount.deals, open_deals), amount=amount)


def _forecast(totals: Mapping[str, PipelineTotals], reporting: ReportingSettings) -> ForecastView:
    weights = reporting.forecast_weights

    def weighed(t: PipelineTotals, prefix: str) -> float:
        return sum(getattr(weights, call) * getattr(t, f"{prefix}_{call}_amount") for call in CALLS)

    crm = _money_of(totals, reporting, lambda t: (weighed(t, "rep"), t.open_deals))
    ai = _money_of(totals, reporting, lambda t: (weighed(t, "final"), t.open_deals - t.unjudged_deals))
    gap = _money_of(totals, reporting, lambda t: (weighed(t, "rep") - weighed(t, "final"), t.open_deals))
    return ForecastView(
        weights=weights, crm_weighted=crm, ai_weighted=ai,
        ai_weighted_without_overrides=_money_of(
            totals, reporting, lambda t: (weighed(t, "ai"), t.open_deals - t.unjudged_deals)),
        gap=gap, gap_pct=pct(gap.reporting.amount, crm.reporting.amount),
        crm_commit=_money(totals, reporting, "rep_commit_amount", "rep_commit_deals"),
        ai_commit=_money(totals, reporting, "final_commit_amount", "final_commit_deals"),
        overridden_deals=sum(t.overridden_deals for t in totals.values()),
        unjudged_deals=sum(t.unjudged_deals for t in totals.values()),
    )


def _commit_admission(totals: Mapping[str, PipelineTotals], reporting: ReportingSettings) -> CommitAdmissionView:
    verified, review, unsupported = (_money(totals, reporting, f"{name}_amount", f"{name}_deals")
                                     for name in ("admitted", "needs_review", "not_admitted"))
    calls = verified.deals + review.deals + unsupported.deals
    return CommitAdmissionView(commit_calls=calls, verified=verified, needs_review=review, unsupported=unsupported,
                               verified_pct=pct(verified.deals, calls))


def _money(totals: Mapping[str, PipelineTotals], reporting: ReportingSettings, amount: str, deals: str,
           recent: str | None = None) -> Money:
    return _money_of(totals, reporting, lambda t: (getattr(t, amount), getattr(t, deals)),
                     recent=(lambda t: getattr(t, recent)) if recent else None)


def _money_of(totals: Mapping[str, PipelineTotals], reporting: ReportingSettings,
              amount_and_deals: Callable[[PipelineTotals], tuple[float, int]],
              recent: Callable[[PipelineTotals], int] | None = None) -> Money:
    """A figure whose amount and deal count per currency ``amount_and_deals`` reads off the totals."""
    amounts = {currency: CurrencyAmount(amount=(both := amount_and_deals(t))[0], deals=both[1])
               for currency, t in totals.items()}
    scored_recently = sum(recent(t) for t in totals.values()) if recent else None
    return money(amounts, reporting, scored_recently=scored_recently)


def _mean(total: float, count: int) -> float | None:
    return round(total / count, 1) if count else None


def pipeline_change(now: PipelineFigures, then: PipelineFigures) -> PipelineChange:
    return PipelineChange(
        open_deals=now.open_deals - then.open_deals,
        pipeline_value=change(now.pipeline_value, then.pipeline_value),
        risk_adjusted_value=change(now.risk_adjusted_value, then.risk_adjusted_value),
        optimism_gap=change(now.optimism_gap, then.optimism_gap),
        optimism_gap_pct_points=_difference(now.optimism_gap_pct, then.optimism_gap_pct),
        revenue_at_risk=change(now.revenue_at_risk, then.revenue_at_risk),
        crm_weighted=change(now.forecast.crm_weighted, then.forecast.crm_weighted),
        ai_weighted=change(now.forecast.ai_weighted, then.forecast.ai_weighted),
        verified_commit_pct_points=_difference(now.commit_admission.verified_pct, then.commit_admission.verified_pct),
        average_risk_score=_difference(now.average_risk_score, then.average_risk_score),
    )


def _difference(now: float | None, then: float | None) -> float | None:
    return None if now is None or then is None else round(now - then, 1)


# ---------------------------------------------------------------- deals closed in a period


@dataclass(frozen=True)
class Period:
    name: str
    start: datetime
    end: datetime

    def shifted(self, days: int) -> Period:
        back = timedelta(days=days)
        return Period(self.name, self.start - back, self.end - back)

    def view(self) -> PeriodView:
        return PeriodView(name=self.name, start=self.start, end=self.end)


def parse_period(text: str | None, now: datetime) -> Period:
    """``Nd`` (the trailing N days, 1-730), ``mtd``, ``qtd`` or ``ytd`` (to date, UTC); default 90d."""
    name = (text or "90d").strip().lower()
    trailing = _TRAILING.match(name)
    if trailing:
        days = int(trailing.group(1))
        if not 1 <= days <= MAX_PERIOD_DAYS:
            raise ValueError(f"a trailing period is 1 to {MAX_PERIOD_DAYS} days")
        return Period(name, now - timedelta(days=days), now)
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    starts = {"mtd": today.replace(day=1), "qtd": today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1),
              "ytd": today.replace(month=1, day=1)}
    if name not in starts:
        raise ValueError("use Nd (trailing days, e.g. 90d), mtd, qtd or ytd")
    return Period(name, starts[name], now)


@dataclass(frozen=True)
class ClosedCounts:
    """Deals closed in one window (``analytics_store.closed_counts``)."""

    won: int = 0
    lost: int = 0
    cycle_days_sum: float = 0.0
    cycle_deals: int = 0


def closed_figures(period: Period, counts: ClosedCounts) -> ClosedFigures:
    decided = counts.won + counts.lost
    return ClosedFigures(
        start=period.start, end=period.end,
        win_rate=WinRate(pct=pct(counts.won, decided), won=counts.won, lost=counts.lost, deals=decided),
        cycle_time=CycleTime(avg_days=_mean(counts.cycle_days_sum, counts.cycle_deals), deals=counts.cycle_deals),
    )


def closed_change(now: ClosedFigures, then: ClosedFigures) -> ClosedChange:
    return ClosedChange(win_rate_points=_difference(now.win_rate.pct, then.win_rate.pct),
                        cycle_time_days=_difference(now.cycle_time.avg_days, then.cycle_time.avg_days))
