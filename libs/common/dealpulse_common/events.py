"""Event contracts: a CloudEvents 1.0 envelope (JSON) with one typed model per event type.

Schema changes are additive; a breaking change is a new ``.v2`` topic and type.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from dealpulse_common.deal import CanonicalDeal, ForecastCategory, storable_text


def utcnow() -> datetime:
    return datetime.now(UTC)


def deterministic_id(*parts: str) -> str:
    """An event id derived from what caused the event, so a replay yields the same id."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


class CloudEvent(BaseModel):
    """CloudEvents 1.0 attributes plus the DealPulse extensions ``tenantid``, ``dealid``, ``traceparent``."""

    model_config = ConfigDict(extra="ignore")

    event_type: ClassVar[str]

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    source: str
    type: str
    time: datetime = Field(default_factory=utcnow)
    datacontenttype: Literal["application/json"] = "application/json"
    tenantid: str
    dealid: str
    traceparent: str | None = None

    @classmethod
    def create(cls, *, source: str, tenant_id: str, deal_id: str, data: BaseModel, **attrs: Any) -> Self:
        return cls(source=source, type=cls.event_type, tenantid=tenant_id, dealid=deal_id, data=data, **attrs)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, raw: bytes) -> Self:
        return cls.model_validate_json(raw)

    @property
    def key(self) -> str:
        return partition_key(self.tenantid, self.dealid)


def partition_key(tenant_id: str, deal_id: str) -> str:
    """Keying by tenant and deal keeps every deal's events in order on one partition."""
    return f"{tenant_id}:{deal_id}"


# ---------------------------------------------------------------- deal.changed

# Where the change behind an event came from: a CRM connector's name, "generic", or one of these bulk sources.
IMPORT_PROVIDER = "import"  # a file loaded through POST /v1/imports
RESCORE_PROVIDER = "rescore"  # the scorer re-scoring open deals after a model promotion
OVERRIDE_PROVIDER = "override"  # verdict re-stating a deal's verdict because a manager set or removed an override


class DealChangedData(BaseModel):
    deal: CanonicalDeal
    changed_fields: list[str]
    provider: str = "generic"
    source_event_id: str
    received_at: datetime
    deleted: bool = False


class DealChanged(CloudEvent):
    event_type: ClassVar[str] = "com.dealpulse.crm.deal.changed.v1"
    type: Literal["com.dealpulse.crm.deal.changed.v1"] = "com.dealpulse.crm.deal.changed.v1"
    data: DealChangedData


# ---------------------------------------------------------------- deal.scored


class RiskCategory(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class RiskFactor(BaseModel):
    feature: str
    label: str
    impact: float = Field(description="Signed change in win probability, in points (0-100 scale)")
    description: str


class Recommendation(BaseModel):
    priority: Literal["immediate", "this_week", "ongoing"]
    action: str
    rationale: str


class ScoreChange(BaseModel):
    """Why the score moved since the deal's previous score."""

    field: str
    label: str
    delta: int = Field(description="Risk points attributed to this change (positive = riskier)")
    description: str


class ScoreDelta(BaseModel):
    previous_risk_score: int
    previous_scored_at: datetime
    delta: int
    changes: list[ScoreChange]


class SimilarDeal(BaseModel):
    """A won deal of the same tenant and segment, of similar size, and what happened in it."""

    deal_id: str
    name: str | None = None
    account_name: str | None = None
    amount: float | None = None
    currency: str | None = Field(None, description="The amount's currency: always the scored deal's own")
    similarity: float = Field(ge=0.0, le=1.0)
    closed_at: datetime | None = None
    what_happened: list[str]


class DealScoredData(BaseModel):
    deal: CanonicalDeal
    risk_score: int = Field(ge=0, le=100)
    risk_category: RiskCategory
    win_probability: float = Field(ge=0.0, le=1.0)
    factors: list[RiskFactor]
    recommendations: list[Recommendation]
    since_previous: ScoreDelta | None = None
    previous_category: RiskCategory | None = None
    similar_won_deals: list[SimilarDeal] = Field(default_factory=list)
    model_version: str
    scored_at: datetime
    source_event_id: str
    provider: str = Field("generic", description="Where the scored change came from (DealChangedData.provider)")
    timing: dict[str, datetime] = Field(default_factory=dict, description="Hop timestamps for latency tracing")


class DealScored(CloudEvent):
    event_type: ClassVar[str] = "com.dealpulse.deal.scored.v1"
    type: Literal["com.dealpulse.deal.scored.v1"] = "com.dealpulse.deal.scored.v1"
    data: DealScoredData


# ---------------------------------------------------------------- deal.verdict


class ForecastBucket(StrEnum):
    PIPELINE = "pipeline"
    BEST_CASE = "best_case"
    COMMIT = "commit"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


class CommitAdmission(StrEnum):
    ADMITTED = "admitted"
    NEEDS_REVIEW = "needs_review"
    NOT_ADMITTED = "not_admitted"
    NOT_APPLICABLE = "not_applicable"


class GateCheck(BaseModel):
    gate: str
    passed: bool
    reason: str


# The calls a verdict can make of an open deal, least to most confident.
OPEN_BUCKETS: tuple[ForecastBucket, ...] = (ForecastBucket.PIPELINE, ForecastBucket.BEST_CASE, ForecastBucket.COMMIT)


def _open_bucket(bucket: ForecastBucket) -> ForecastBucket:
    if bucket not in OPEN_BUCKETS:
        raise ValueError("an override is a call on an open deal: pipeline, best_case or commit")
    return bucket


OpenBucket = Annotated[ForecastBucket, AfterValidator(_open_bucket)]
# Constraints first, then the storable-text check: put after it, pydantic would strip but not count the stripped.
OverrideReason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000),
                           AfterValidator(storable_text)]


class VerdictOverride(BaseModel):
    """A manager's call in place of the AI verdict, shown beside it; in force until removed or the deal closes."""

    forecast_category: OpenBucket
    reason: OverrideReason
    overridden_by: str = Field(description="The user id of the manager or admin who set it")
    overridden_at: datetime
    ai_verdict: ForecastBucket = Field(description="The AI verdict it was set beside")


class DealVerdictData(BaseModel):
    ai_forecast: ForecastBucket
    forecast_basis: Literal["health_score", "win_probability", "outcome"]
    health_score: int | None = None
    win_probability: float
    rep_forecast: ForecastCategory | None = None
    commit_admission: CommitAdmission
    gates: list[GateCheck] = Field(default_factory=list)
    ai_verdict: ForecastBucket
    reasons: list[str]
    predictive_eligible: bool
    thresholds_version: str
    risk_score: int
    source_event_id: str
    decided_at: datetime
    owner_id: str | None = None
    provider: str = Field("generic", description="Where the change behind the score came from")
    changed: bool = Field(True, description="The deal's first verdict, or its AI forecast, AI verdict or commit "
                                            "admission differs from its previous one; the live feed shows only these")
    override: VerdictOverride | None = Field(None, description="A manager's override in force, beside the AI's call")


class DealVerdict(CloudEvent):
    event_type: ClassVar[str] = "com.dealpulse.deal.verdict.v1"
    type: Literal["com.dealpulse.deal.verdict.v1"] = "com.dealpulse.deal.verdict.v1"
    data: DealVerdictData


# ---------------------------------------------------------------- deal.verdict.override (a command to verdict)


class DealVerdictOverrideData(BaseModel):
    """A manager or admin sets (``forecast_category`` and ``reason``) or removes the override of a deal's verdict."""

    action: Literal["set", "clear"]
    forecast_category: OpenBucket | None = None
    reason: OverrideReason | None = None
    requested_by: str
    requested_at: datetime

    @model_validator(mode="after")
    def _set_says_what_and_why(self) -> Self:
        if self.action == "set" and (self.forecast_category is None or self.reason is None):
            raise ValueError("setting an override needs a forecast category and a reason")
        if self.action == "clear" and self.forecast_category is not None:
            raise ValueError("removing an override takes no forecast category")
        return self

    def requested(self, ai_verdict: ForecastBucket) -> VerdictOverride | None:
        """The override this command puts in force beside ``ai_verdict``; None for a removal."""
        if self.forecast_category is None or self.reason is None:
            return None
        return VerdictOverride(forecast_category=self.forecast_category, reason=self.reason,
                               overridden_by=self.requested_by, overridden_at=self.requested_at,
                               ai_verdict=ai_verdict)


class DealVerdictOverride(CloudEvent):
    event_type: ClassVar[str] = "com.dealpulse.deal.verdict.override.v1"
    type: Literal["com.dealpulse.deal.verdict.override.v1"] = "com.dealpulse.deal.verdict.override.v1"
    data: DealVerdictOverrideData


# ---------------------------------------------------------------- deal.alerts


class AlertType(StrEnum):
    ENTERED_CRITICAL = "entered_critical"
    RISK_JUMP = "risk_jump"
    COMMIT_NOT_ADMITTED = "commit_not_admitted"


class AlertRecipient(BaseModel):
    """Someone an alert is meant for, and when it may reach them (the end of their quiet hours, if inside them)."""

    user_id: str
    role: Literal["owner", "manager"]
    deliver_after: datetime
    channels: list[str] = Field(default_factory=list, description="slack_dm / email deliveries planned for them")


class DealAlertData(BaseModel):
    alert_id: str
    alert_type: AlertType
    severity: Literal["critical", "high", "medium"]
    title: str
    summary: str
    risk_score: int
    deal_name: str | None = None
    amount: float | None = None
    currency: str | None = None
    owner_id: str | None = None
    deep_link: str
    slack_blocks: list[dict[str, Any]]
    source_event_id: str
    raised_at: datetime
    dedupe_key: str = Field("", description="tenant:deal:alert_type — at most one alert per key per throttle window")
    manager_id: str | None = None
    recipients: list[AlertRecipient] = Field(default_factory=list)
    deliver_after: datetime | None = Field(None, description="The earliest moment any recipient is reached")
    factors: list[RiskFactor] = Field(default_factory=list, description="Top risk factors, as data")
    recommendations: list[Recommendation] = Field(default_factory=list)


class DealAlert(CloudEvent):
    event_type: ClassVar[str] = "com.dealpulse.deal.alert.v1"
    type: Literal["com.dealpulse.deal.alert.v1"] = "com.dealpulse.deal.alert.v1"
    data: DealAlertData


# ---------------------------------------------------------------- dlq


MAX_ERROR_CHARS = 2000


class DeadLetterData(BaseModel):
    original_topic: str
    partition: int | None = None
    offset: int | None = None
    original_key: str | None = None
    original_value_b64: str = Field(description="The original bytes, base64")
    error: str
    service: str
    failed_at: datetime


class DeadLetter(CloudEvent):
    event_type: ClassVar[str] = "com.dealpulse.dead_letter.v1"
    type: Literal["com.dealpulse.dead_letter.v1"] = "com.dealpulse.dead_letter.v1"
    data: DeadLetterData

    @classmethod
    def of(cls, *, service: str, original_topic: str, original_key: str | None, original: bytes, error: str,
           tenant_id: str | None, deal_id: str | None, partition: int | None = None, offset: int | None = None,
           **attrs: Any) -> DeadLetter:
        """The one way a dead letter is written: the original bytes, where they came from, and why they failed
        (``attrs``: CloudEvent attributes such as a stable ``id`` or the ``traceparent``)."""
        return cls.create(
            source=f"dealpulse/{service}", tenant_id=tenant_id or "unknown", deal_id=deal_id or "unknown",
            data=DeadLetterData(
                original_topic=original_topic, partition=partition, offset=offset, original_key=original_key,
                original_value_b64=base64.b64encode(original).decode(), error=error[:MAX_ERROR_CHARS],
                service=service, failed_at=utcnow(),
            ),
            **attrs,
        )
