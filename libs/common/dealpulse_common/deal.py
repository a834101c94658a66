"""The canonical deal: the one shape every service sees, whatever CRM sent it."""

from __future__ import annotations

import math
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# --------------------------------------------------------------- what a deal's values may be
# Every service stores a deal (PostgreSQL jsonb and text) and sends it (JSON on Kafka). A value either cannot
# carry, or one no calendar arithmetic survives, is refused where the deal enters, with the field named, instead
# of failing later in a consumer that cannot tell the sender.

EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)
_INT64 = (-(2**63), 2**63 - 1)


def storable_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _in_calendar(value: date) -> date:
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return value


def _storable_json(value: Any) -> Any:
    """JSON every store and wire format here takes: text without NUL, 64-bit integers, finite numbers."""
    if isinstance(value, str):
        storable_text(value)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise ValueError("integers must fit in 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            storable_text(str(key))
            _storable_json(item)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item)
    return value


IN_CALENDAR = AfterValidator(_in_calendar)
DealText = Annotated[str, AfterValidator(storable_text)]
DealDate = Annotated[date, IN_CALENDAR]
DealDateTime = Annotated[datetime, IN_CALENDAR]
JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
# Deal sizes are bounded by what storage (double precision) and the model (log of the amount) take, not by what
# seems large in one currency: a ¥12,000,000 or €15,000,000 deal is real. 10^15 is far above any deal in any
# currency. Zero is "no amount" in the CRMs' own terms, so an amount, when given, is positive.
MAX_DEAL_AMOUNT = 1e15
DealAmount = Annotated[float, Field(gt=0, lt=MAX_DEAL_AMOUNT, allow_inf_nan=False)]


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


# The qualification categories that admit a Commit call (verdict's default gates; the scorer's model counts them).
COMMIT_GATES: tuple[QualificationCategory, ...] = (
    QualificationCategory.PAPER,
    QualificationCategory.PROCESS,
    QualificationCategory.TIMING,
    QualificationCategory.BUDGET,
)


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
    note: DealText | None = None


Qualification = dict[QualificationCategory, QualificationEntry]


class DealHistory(BaseModel):
    """What DealPulse knows of a deal's past as of its last change (``dealpulse_common.history`` builds it).

    None means unknown, never zero: a deal first seen mid-life has no known count until its CRM sends one.
    """

    stage_entered_at: datetime | None = None
    close_date_push_count: Annotated[int, Field(ge=0)] | None = None
    amount_change_count: Annotated[int, Field(ge=0)] | None = None
    activity_count_30d: Annotated[int, Field(ge=0)] | None = None
    days_since_last_activity: float | None = None


class CanonicalDeal(BaseModel):
    """The full merged snapshot of one deal after a change (event-carried state)."""

    model_config = ConfigDict(extra="forbid")

    tenant_id: str
    deal_id: str
    name: DealText | None = None
    account_name: DealText | None = None
    amount: FiniteFloat | None = None
    currency: DealText = "USD"
    stage: Stage | None = None
    crm_stage: DealText | None = None
    stage_unmapped: bool = Field(
        False, description="True when crm_stage matched no tenant mapping nor default name; stage is then the last "
                           "known canonical stage")
    forecast_category: ForecastCategory | None = None
    industry: DealText | None = None
    region: DealText | None = None
    product_type: DealText | None = None
    lead_source: DealText | None = None
    owner_id: DealText | None = None
    owner_name: DealText | None = None
    manager_id: DealText | None = None
    created_at: DealDateTime | None = None
    expected_close_date: DealDate | None = None
    closed_at: DealDateTime | None = None
    is_closed: bool = False
    is_won: bool | None = None
    last_activity_at: DealDateTime | None = None
    qualification: Qualification = Field(default_factory=dict)
    custom: JsonObject = Field(default_factory=dict)
    source_modified_at: DealDateTime | None = None
    history: DealHistory = Field(default_factory=DealHistory)

    def health_score(self) -> int | None:
        """Sum of qualification scores, or None when the deal carries no qualification."""
        if not self.qualification:
            return None
        return sum(entry.score for entry in self.qualification.values())
