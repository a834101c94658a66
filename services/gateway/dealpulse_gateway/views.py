"""Response shapes of the REST API (they document the OpenAPI spec that clients and the fuzzer read)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from dealpulse_common.events import OpenBucket, OverrideReason, VerdictOverride
from dealpulse_gateway.analytics_views import PipelineFigures
from dealpulse_gateway.money import Money


class DealView(BaseModel):
    deal: dict[str, Any] = Field(description="The canonical deal snapshot as ingest stores it")
    deleted_at: datetime | None = Field(None, description="Set when the CRM deleted the deal")
    score: dict[str, Any] | None = Field(
        None, description="The latest DealScoredData without its embedded deal copy, plus age_seconds")
    verdict: dict[str, Any] | None = Field(
        None, description="The latest DealVerdictData, plus age_seconds; its `override` is a manager's call in force "
                          "beside the AI's `ai_verdict`")
    effective_verdict: str | None = Field(None, description="The call in force: the override, else the AI verdict")
    stale: bool = Field(description="True when the deal has had no score for more than 14 days")


class RowVerdict(BaseModel):
    ai_forecast: str
    ai_verdict: str
    commit_admission: str
    decided_at: datetime
    override: VerdictOverride | None = Field(description="A manager's call in force, beside the AI's")
    effective_verdict: str = Field(description="The override's call, else the AI verdict")


class DealRow(BaseModel):
    deal_id: str
    name: str | None
    account_name: str | None
    amount: float | None
    currency: str = Field(description="The currency of amount (ISO 4217 as the CRM sent it, upper case)")
    risk_score: int
    risk_category: str
    win_probability: float
    owner_id: str | None
    owner_name: str | None
    stage: str | None
    forecast_category: str | None = Field(None, description="The rep's call, as the CRM sent it")
    expected_close_date: date | None = None
    scored_at: datetime
    age_seconds: float
    stale: bool = Field(False, description="No score for longer than the staleness window (14 days)")
    model_version: str | None
    top_factor: dict[str, Any] | None = Field(description="The factor that moves win probability most")
    since_previous: dict[str, Any] | None = Field(description="Why the score changed since the previous one")
    verdict: RowVerdict | None = Field(None, description="The latest verdict; None before the first")

    @classmethod
    def of(cls, row: asyncpg.Record, now: datetime, stale_before: datetime) -> DealRow:
        """A row of ``analytics_store.open_deals_page``."""
        values = dict(row)
        verdict_fields = {k: values.pop(k) for k in ("ai_forecast", "ai_verdict", "commit_admission", "decided_at",
                                                     "override")}
        verdict = None if verdict_fields["ai_verdict"] is None else RowVerdict(
            **verdict_fields, effective_verdict=call_in_force(verdict_fields["ai_verdict"], verdict_fields["override"]))
        return cls(**values, age_seconds=age_seconds(row["scored_at"], now), stale=row["scored_at"] < stale_before,
                   verdict=verdict)


def call_in_force(ai_verdict: str, override: dict[str, Any] | None) -> str:
    """The forecast call a deal goes by: the manager's override, else the AI verdict."""
    return str(override["forecast_category"]) if override else ai_verdict


def age_seconds(at: datetime, now: datetime) -> float:
    return round(max(0.0, (now - at).total_seconds()), 1)


class Pagination(BaseModel):
    total_count: int
    limit: int
    offset: int
    has_more: bool


class RiskSummary(BaseModel):
    total_at_risk_revenue: float | None = Field(
        description="Sum of the amounts of every matching deal when they share one currency; None when they do not "
                    "(never a sum across currencies: see at_risk_revenue)")
    at_risk_revenue: Money = Field(description="The amounts of every matching deal, per currency and converted")
    average_risk_score: float | None
    deals_by_category: dict[str, int]


class HighRiskPage(BaseModel):
    deals: list[DealRow]
    pagination: Pagination
    summary: RiskSummary


class DealsPage(BaseModel):
    deals: list[DealRow]
    pagination: Pagination
    summary: PipelineFigures = Field(description="The pipeline figures of every matching deal (not just this page)")


# ---------------------------------------------------------------- a deal's history


class ScorePoint(BaseModel):
    kind: Literal["score"] = "score"
    at: datetime
    risk_score: int
    risk_category: str
    win_probability: float
    model_version: str
    since_previous: dict[str, Any] | None = Field(description="Why it changed: the previous score and the delta "
                                                              "attributed to each changed field")
    provider: str | None
    source_event_id: str


class VerdictPoint(BaseModel):
    kind: Literal["verdict"] = "verdict"
    at: datetime
    ai_forecast: str
    ai_verdict: str
    commit_admission: str
    reasons: list[str] = Field(description="Why the AI decided so")
    changed: bool = Field(description="A new judgement against the deal's previous verdict")
    thresholds_version: str | None
    model_version: str | None = Field(description="The model of the score the verdict rests on")
    override: VerdictOverride | None = Field(description="The manager's call in force when it was decided")
    provider: str | None


class OverridePoint(BaseModel):
    kind: Literal["override"] = "override"
    at: datetime
    action: Literal["set", "clear"]
    forecast_category: str | None = Field(description="The manager's call (None when the override was removed)")
    reason: str | None
    overridden_by: str
    ai_verdict: str | None = Field(description="The AI verdict it was set beside")
    previous: str | None = Field(description="The call of the override it replaced or removed, if any")


HistoryPoint = Annotated[ScorePoint | VerdictPoint | OverridePoint, Field(discriminator="kind")]


class DealHistory(BaseModel):
    deal_id: str
    points: list[HistoryPoint] = Field(description="Scores, verdicts and override events, oldest first")
    truncated: bool = Field(description="True when older points of some kind were left out (see limit)")


# ---------------------------------------------------------------- verdict overrides


class OverrideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    forecast_category: OpenBucket = Field(description="The manager's call: pipeline, best_case or commit")
    reason: OverrideReason = Field(description="Why, in a sentence (required, at most 1,000 characters)")


class OverrideAccepted(BaseModel):
    deal_id: str
    status: Literal["accepted"] = Field(
        "accepted", description="Recorded and handed to verdict, which applies it within moments: the deal's "
                                "verdict on the live feed and in GET /v1/deals/{id} then carries it")
    action: Literal["set", "clear"]
    override: VerdictOverride | None = Field(description="The override put in force (None for a removal)")
    previous: VerdictOverride | None = Field(description="The override in force before, as last seen")
    ai_verdict: str
    command_id: str = Field(description="The id of the deal.verdict.override.v1 event")
    audit_id: int
