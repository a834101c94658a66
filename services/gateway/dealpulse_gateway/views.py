"""Response shapes of the REST API (they document the OpenAPI spec that clients and the fuzzer read)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class DealView(BaseModel):
    deal: dict[str, Any] = Field(description="The canonical deal snapshot as ingest stores it")
    deleted_at: datetime | None = Field(None, description="Set when the CRM deleted the deal")
    score: dict[str, Any] | None = Field(
        None, description="The latest DealScoredData without its embedded deal copy, plus age_seconds")
    verdict: dict[str, Any] | None = Field(None, description="The latest DealVerdictData, plus age_seconds")
    stale: bool = Field(description="True when the deal has had no score for more than 14 days")


class HighRiskDeal(BaseModel):
    deal_id: str
    name: str | None
    account_name: str | None
    amount: float | None
    risk_score: int
    risk_category: str
    win_probability: float
    owner_id: str | None
    owner_name: str | None
    stage: str | None
    scored_at: datetime
    age_seconds: float
    model_version: str | None
    top_factor: dict[str, Any] | None = Field(description="The factor that moves win probability most")
    since_previous: dict[str, Any] | None = Field(description="Why the score changed since the previous one")


class Pagination(BaseModel):
    total_count: int
    limit: int
    offset: int
    has_more: bool


class RiskSummary(BaseModel):
    total_at_risk_revenue: float = Field(description="Sum of the amounts of every matching deal")
    average_risk_score: float | None
    deals_by_category: dict[str, int]


class HighRiskPage(BaseModel):
    deals: list[HighRiskDeal]
    pagination: Pagination
    summary: RiskSummary
