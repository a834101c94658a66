"""Response shapes of the analytics API (/v1/pipeline/metrics, /v1/reps): they document the OpenAPI spec.

Every figure says how many deals it rests on; money is a ``Money`` (per currency, plus the reporting currency).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from dealpulse_gateway.money import ForecastWeights, Money, MoneyChange


class PeriodView(BaseModel):
    name: str = Field(description="The period asked for: Nd (trailing N days), mtd, qtd or ytd")
    start: datetime
    end: datetime


class ReportingView(BaseModel):
    currency: str
    rates: dict[str, float]
    rates_as_of: date | None
    configured: bool = Field(description="False until an admin set the reporting currency and rates")


class ScopeView(BaseModel):
    owner: str | None = Field(None, description="The owner asked for")
    team: str | None = Field(None, description="The manager whose team (direct and indirect reports) was asked for")
    owners: list[str] | None = Field(description="The owners the figures cover; None: the whole tenant")


class RiskBand(BaseModel):
    deals: int
    share_pct: float | None = Field(description="Share of the open deals, %")
    amount: Money


class ForecastView(BaseModel):
    """The rep's calls weighed against the AI's (with managers' overrides in force in place of the AI's call)."""

    uses_overrides: bool = Field(True, description="ai_weighted and ai_commit take a manager's override in place "
                                                   "of the AI verdict; ai_weighted_without_overrides does not")
    weights: ForecastWeights
    crm_weighted: Money = Field(description="Σ amount × weight of the rep's forecast category (none: pipeline; "
                                            "omitted: 0)")
    ai_weighted: Money = Field(description="Σ amount × weight of the AI verdict, or of the override in force")
    ai_weighted_without_overrides: Money
    gap: Money = Field(description="crm_weighted − ai_weighted: how much more the reps expect than the evidence")
    gap_pct: float | None = Field(description="gap as a share of crm_weighted, in the reporting currency, %")
    crm_commit: Money = Field(description="Deals the rep calls Commit")
    ai_commit: Money = Field(description="Deals whose AI verdict (or override in force) is Commit")
    overridden_deals: int
    unjudged_deals: int = Field(description="Open deals without a verdict yet (in crm_weighted only)")


class CommitAdmissionView(BaseModel):
    """The evidence behind Commit calls (the rep's or the AI's): it does not use overrides, which are a manager's
    judgement, not evidence."""

    uses_overrides: bool = False
    commit_calls: int
    verified: Money = Field(description="Admitted: enough commit gates with high-confidence evidence")
    needs_review: Money = Field(description="Gates scored high enough but not with high confidence")
    unsupported: Money = Field(description="Not admitted; the AI verdict was lowered")
    verified_pct: float | None = Field(description="verified as a share of the Commit calls, by count, %")


class PipelineFigures(BaseModel):
    """The open pipeline (closed and deleted deals never count)."""

    open_deals: int
    scored_recently_pct: float | None
    pipeline_value: Money
    risk_adjusted_value: Money = Field(description="Σ amount × win probability")
    optimism_gap: Money = Field(description="pipeline_value − risk_adjusted_value")
    optimism_gap_pct: float | None = Field(description="optimism_gap as a share of pipeline_value, in the "
                                                       "reporting currency, %")
    revenue_at_risk: Money = Field(description="Amount of the high and critical deals")
    average_risk_score: float | None
    risk_distribution: dict[str, RiskBand] = Field(description="low, medium, high, critical: count and amount")
    forecast: ForecastView
    commit_admission: CommitAdmissionView


class WinRate(BaseModel):
    pct: float | None
    won: int
    lost: int = Field(description="Lost, or closed without saying it was won")
    deals: int


class CycleTime(BaseModel):
    avg_days: float | None = Field(description="Mean days from the deal's creation to its close, over won deals")
    deals: int


class ClosedFigures(BaseModel):
    """Deals closed in the period (by their close date; a closed deal without one is in no period)."""

    start: datetime
    end: datetime
    win_rate: WinRate
    cycle_time: CycleTime


class PipelineChange(BaseModel):
    open_deals: int
    pipeline_value: MoneyChange
    risk_adjusted_value: MoneyChange
    optimism_gap: MoneyChange
    optimism_gap_pct_points: float | None
    revenue_at_risk: MoneyChange
    crm_weighted: MoneyChange
    ai_weighted: MoneyChange
    verified_commit_pct_points: float | None
    average_risk_score: float | None


class PastPipeline(BaseModel):
    snapshot_day: date = Field(description="The daily snapshot compared with")
    figures: PipelineFigures
    change: PipelineChange = Field(description="Now minus then")


class ClosedChange(BaseModel):
    win_rate_points: float | None
    cycle_time_days: float | None


class PastClosed(BaseModel):
    figures: ClosedFigures = Field(description="The period shifted back by the trend's days")
    change: ClosedChange


class TrendPoint(BaseModel):
    days: int
    pipeline: PastPipeline | None = Field(description="None while no daily snapshot is that old")
    closed: PastClosed


class PipelineMetrics(BaseModel):
    tenant_id: str
    as_of: datetime
    period: PeriodView
    scope: ScopeView
    reporting: ReportingView
    pipeline: PipelineFigures
    closed: ClosedFigures
    trends: list[TrendPoint] = Field(description="7, 30 and 90 days back")


class RepFigures(BaseModel):
    owner_id: str | None
    owner_name: str | None
    open_deals: int
    pipeline_value: Money
    risk_adjusted_value: Money
    high_risk_deals: int = Field(description="Open deals in high or critical risk")
    average_risk_score: float | None = Field(description="Mean risk score of the rep's open deals")
    win_rate: WinRate
    cycle_time: CycleTime
    commit_calls: int
    verified_commit_pct: float | None = Field(description="Share of the rep's Commit calls admitted, %")


class RepsPage(BaseModel):
    tenant_id: str
    as_of: datetime
    period: PeriodView
    reporting: ReportingView
    reps: list[RepFigures] = Field(description="Largest open pipeline (reporting currency) first")

