"""Factories of the deals and events tests feed the system: every required field is filled in here once, so a test
names only what it is about (webhook bodies: ``tests.support.deal_change``).

Two layers: ``deal``, ``scored_data``, ``verdict_data``... build any shape from keyword overrides, and
``scored``, ``verdict``, ``alert``, ``changed`` give the typical event of one deal of a tenant, owned by a rep
("Acme renewal", what a dashboard shows).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from dealpulse_common.deal import (
    CanonicalDeal,
    Confidence,
    DealHistory,
    EvidenceStrength,
    ForecastCategory,
    QualificationCategory,
    QualificationEntry,
    Stage,
)
from dealpulse_common.events import (
    AlertType,
    CommitAdmission,
    DeadLetter,
    DeadLetterData,
    DealAlert,
    DealAlertData,
    DealChanged,
    DealChangedData,
    DealScored,
    DealScoredData,
    DealVerdict,
    DealVerdictData,
    DealVerdictOverride,
    DealVerdictOverrideData,
    ForecastBucket,
    RiskFactor,
    utcnow,
)
from dealpulse_scorer.explain import risk_category  # the scorer's rule: a factory's score and category agree

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
AS_OF = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # the scorer tests' "now"
TRACEPARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
STALLED = RiskFactor(feature="days_since_last_activity", label="Stalled", impact=-12.0,
                     description="No activity for 40 days")


# ---------------------------------------------------------------- any shape


def deal(tenant_id: str = "t1", deal_id: str = "D1", **fields: Any) -> CanonicalDeal:
    """A canonical deal with only the fields given."""
    return CanonicalDeal.model_validate({"tenant_id": tenant_id, "deal_id": deal_id, **fields})


def make_deal(**overrides: object) -> CanonicalDeal:
    """A mid-funnel open deal with qualification and history, as of AS_OF (the scorer's features read them all)."""
    qualification = {
        QualificationCategory.CHAMPION: QualificationEntry(
            score=2, evidence_strength=EvidenceStrength.MODERATE, confidence=Confidence.MEDIUM
        ),
        QualificationCategory.ECONOMIC_BUYER: QualificationEntry(score=1, confidence=Confidence.LOW),
        QualificationCategory.PAPER: QualificationEntry(score=2, confidence=Confidence.HIGH),
        QualificationCategory.PROCESS: QualificationEntry(score=2, confidence=Confidence.HIGH),
        QualificationCategory.PAIN: QualificationEntry(score=3, confidence=Confidence.HIGH),
    }
    fields: dict[str, object] = {
        "tenant_id": "demo",
        "deal_id": "D-1",
        "name": "Globex — core",
        "amount": 42000.0,
        "stage": Stage.PROPOSAL,
        "forecast_category": ForecastCategory.BEST_CASE,
        "industry": "software",
        "region": "na",
        "product_type": "core",
        "lead_source": "inbound",
        "created_at": AS_OF - timedelta(days=60),
        "expected_close_date": date(2026, 12, 10),
        "last_activity_at": AS_OF - timedelta(days=3),
        "qualification": qualification,
        "history": DealHistory(
            stage_entered_at=AS_OF - timedelta(days=12),
            close_date_push_count=1,
            amount_change_count=0,
            activity_count_30d=6,
            days_since_last_activity=3.0,
        ),
    }
    fields.update(overrides)
    return CanonicalDeal.model_validate(fields)


def scored_data(of: CanonicalDeal | None = None, *, risk_score: int = 70, **fields: Any) -> DealScoredData:
    """A score of ``of`` (default: a bare deal); its category and win probability follow from ``risk_score``."""
    values: dict[str, Any] = {
        "risk_category": risk_category(risk_score), "win_probability": (100 - risk_score) / 100, "factors": [],
        "recommendations": [], "model_version": "m1", "scored_at": NOW, "source_event_id": "crm-1", **fields,
    }
    return DealScoredData(deal=of or deal(), risk_score=risk_score, **values)


def scored_event(data: DealScoredData | None = None, **attrs: Any) -> DealScored:
    """``data`` as the scorer publishes it, keyed by its deal; ``attrs`` set envelope fields (``id``...)."""
    data = data or scored_data()
    return DealScored.create(source="dealpulse/scorer", tenant_id=data.deal.tenant_id, deal_id=data.deal.deal_id,
                             data=data, **attrs)


def verdict_data(**fields: Any) -> DealVerdictData:
    """A verdict: pipeline on a win probability of 0.30, commit admission not applicable."""
    values: dict[str, Any] = {
        "ai_forecast": ForecastBucket.PIPELINE, "forecast_basis": "win_probability", "win_probability": 0.3,
        "commit_admission": CommitAdmission.NOT_APPLICABLE, "ai_verdict": ForecastBucket.PIPELINE,
        "reasons": ["win probability below 0.50"], "predictive_eligible": True, "thresholds_version": "default-1",
        "risk_score": 70, "source_event_id": "crm-1", "decided_at": NOW, **fields,
    }
    return DealVerdictData(**values)


def verdict_event(data: DealVerdictData | None = None, *, tenant_id: str = "t1", deal_id: str = "D1",
                  **attrs: Any) -> DealVerdict:
    return DealVerdict.create(source="dealpulse/verdict", tenant_id=tenant_id, deal_id=deal_id,
                              data=data or verdict_data(), **attrs)


def override_command(tenant_id: str = "t1", deal_id: str = "D1", **fields: Any) -> DealVerdictOverride:
    """A manager's command to set the deal's verdict to Best Case, with a reason (``action="clear"`` removes it)."""
    values: dict[str, Any] = {"action": "set", "forecast_category": ForecastBucket.BEST_CASE,
                              "reason": "Legal signed off", "requested_by": "mgr-1", "requested_at": NOW, **fields}
    return DealVerdictOverride.create(source="dealpulse/gateway", tenant_id=tenant_id, deal_id=deal_id,
                                      data=DealVerdictOverrideData(**values))


def alert_data(**fields: Any) -> DealAlertData:
    """An alert that the deal entered critical."""
    values: dict[str, Any] = {
        "alert_id": "a1", "alert_type": AlertType.ENTERED_CRITICAL, "severity": "critical",
        "title": "Acme renewal is now critical", "summary": "Risk 82", "risk_score": 82,
        "deep_link": "http://localhost:8000/#deal=D1", "slack_blocks": [{"type": "divider"}],
        "source_event_id": "crm-1", "raised_at": NOW, **fields,
    }
    return DealAlertData(**values)


def alert_event(data: DealAlertData | None = None, *, tenant_id: str = "t1", deal_id: str = "D1",
                **attrs: Any) -> DealAlert:
    return DealAlert.create(source="dealpulse/alerts", tenant_id=tenant_id, deal_id=deal_id,
                            data=data or alert_data(), **attrs)


def changed_event(of: CanonicalDeal | None = None, *, deleted: bool = False, **fields: Any) -> DealChanged:
    """The change ingest publishes for ``of``: an amount change, or with ``deleted`` the deal's tombstone."""
    of = of or deal()
    values: dict[str, Any] = {"changed_fields": ["deleted"] if deleted else ["amount"], "source_event_id": "crm-1",
                              "received_at": NOW, **fields}
    return DealChanged.create(source="dealpulse/ingest", tenant_id=of.tenant_id, deal_id=of.deal_id,
                              data=DealChangedData(deal=of, deleted=deleted, **values))


def dead_letter_event(tenant_id: str = "t1", deal_id: str = "D1", **fields: Any) -> DeadLetter:
    values: dict[str, Any] = {"original_topic": "x", "original_value_b64": "AA==", "error": "bad",
                              "service": "scorer", "failed_at": NOW, **fields}
    return DeadLetter.create(source="dealpulse/scorer", tenant_id=tenant_id, deal_id=deal_id,
                             data=DeadLetterData(**values))


# ---------------------------------------------------------------- one deal of a tenant, owned by a rep


def _acme_renewal(tenant_id: str, deal_id: str, owner_id: str | None, **fields: Any) -> CanonicalDeal:
    return deal(tenant_id, deal_id, name="Acme renewal", amount=48_000, stage=Stage.PROPOSAL, owner_id=owner_id,
                **fields)


def scored(tenant_id: str = "acme", deal_id: str = "D1", owner_id: str | None = "rep-1") -> DealScored:
    """A high-risk score with one factor and the hop timing the gateway measures, traced."""
    data = scored_data(_acme_renewal(tenant_id, deal_id, owner_id), factors=[STALLED], model_version="v1",
                       timing={"received_at": utcnow()})
    return scored_event(data, traceparent=TRACEPARENT)


def verdict(tenant_id: str = "acme", deal_id: str = "D1", owner_id: str | None = "rep-1") -> DealVerdict:
    return verdict_event(verdict_data(owner_id=owner_id), tenant_id=tenant_id, deal_id=deal_id)


def alert(tenant_id: str = "acme", deal_id: str = "D1", owner_id: str | None = "rep-1") -> DealAlert:
    return alert_event(alert_data(owner_id=owner_id), tenant_id=tenant_id, deal_id=deal_id)


def changed(tenant_id: str = "acme", deal_id: str = "D1", owner_id: str | None = "rep-1",
            deleted: bool = False, source_event_id: str = "crm-2") -> DealChanged:
    """A change from HubSpot, or with ``deleted`` the deal's tombstone."""
    return changed_event(_acme_renewal(tenant_id, deal_id, owner_id, source_modified_at=NOW), deleted=deleted,
                         provider="hubspot", source_event_id=source_event_id)

