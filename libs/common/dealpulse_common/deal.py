"""The canonical deal: the one shape every service sees, whatever CRM sent it."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class Stage(StrEnum):
    """Canonical pipeline stages, in the order a deal normally moves through them."""

    PROSPECTING = "prospecting"
    QUALIFICATION = "qualification"
    DISCOVERY = "discovery"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    COMMIT = "commit"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


OPEN_STAGES: tuple[Stage, ...] = (
    Stage.PROSPECTING,
    Stage.QUALIFICATION,
    Stage.DISCOVERY,
    Stage.PROPOSAL,
    Stage.NEGOTIATION,
    Stage.COMMIT,
)


class ForecastCategory(StrEnum):
    """The rep's own forecast call."""

    PIPELINE = "pipeline"
    BEST_CASE = "best_case"
    COMMIT = "commit"
    OMITTED = "omitted"
    CLOSED = "closed"


class QualificationCategory(StrEnum):
    PAIN = "pain"
    METRICS = "metrics"
    CHAMPION = "champion"
    ECONOMIC_BUYER = "economic_buyer"
    DECISION_CRITERIA = "decision_criteria"
    PROCESS = "process"
    PAPER = "paper"
    TIMING = "timing"
    BUDGET = "budget"
    COMPETITION = "competition"


class EvidenceStrength(StrEnum):
    NONE = "none"
    WEAK = "weak"
    MODERATE = "moderate"
    STRONG = "strong"


class Confidence(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class QualificationEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: Annotated[int, Field(ge=0, le=3)]
    evidence_strength: EvidenceStrength = EvidenceStrength.NONE
    confidence: Confidence = Confidence.LOW
    note: str | None = None


Qualification = dict[QualificationCategory, QualificationEntry]


class DealHistory(BaseModel):
    """Fields derived from a deal's change history, kept by ingest because CRMs rarely send them."""

    stage_entered_at: datetime | None = None
    close_date_push_count: int = 0
    amount_change_count: int = 0
    activity_count_30d: int = 0
    days_since_last_activity: float | None = None


class CanonicalDeal(BaseModel):
    """The full merged snapshot of one deal after a change (event-carried state)."""

    model_config = ConfigDict(extra="forbid")

    tenant_id: str
    deal_id: str
    name: str | None = None
    account_name: str | None = None
    amount: float | None = None
    currency: str = "USD"
    stage: Stage | None = None
    crm_stage: str | None = None
    stage_unmapped: bool = Field(
        False, description="True when crm_stage matched no tenant mapping nor default name; stage is then the last "
                           "known canonical stage")
    forecast_category: ForecastCategory | None = None
    industry: str | None = None
    region: str | None = None
    product_type: str | None = None
    lead_source: str | None = None
    owner_id: str | None = None
    owner_name: str | None = None
    manager_id: str | None = None
    created_at: datetime | None = None
    expected_close_date: date | None = None
    closed_at: datetime | None = None
    is_closed: bool = False
    is_won: bool | None = None
    last_activity_at: datetime | None = None
    qualification: Qualification = Field(default_factory=dict)
    custom: dict[str, Any] = Field(default_factory=dict)
    source_modified_at: datetime | None = None
    history: DealHistory = Field(default_factory=DealHistory)

    def health_score(self) -> int | None:
        """Sum of qualification scores, or None when the deal carries no qualification."""
        if not self.qualification:
            return None
        return sum(entry.score for entry in self.qualification.values())
