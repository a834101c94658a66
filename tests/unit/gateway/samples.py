"""Typed sample events for the gateway's unit tests."""

from __future__ import annotations

from datetime import UTC, datetime

from dealpulse_common.deal import CanonicalDeal, Stage
from dealpulse_common.events import (
    AlertType,
    CommitAdmission,
    DealAlert,
    DealAlertData,
    DealChanged,
    DealChangedData,
    DealScored,
    DealScoredData,
    DealVerdict,
    DealVerdictData,
    ForecastBucket,
    RiskCategory,
    RiskFactor,
    utcnow,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def scored(tenant_id: str = "acme", deal_id: str = "D1", owner_id: str | None = "rep-1") -> DealScored:
    deal = CanonicalDeal(tenant_id=tenant_id, deal_id=deal_id, name="Acme renewal", amount=48_000,
                         stage=Stage.PROPOSAL, owner_id=owner_id)
    data = DealScoredData(deal=deal, risk_score=70, risk_category=RiskCategory.HIGH, win_probability=0.3,
                          factors=[RiskFactor(feature="days_since_last_activity", label="Stalled", impact=-12.0,
                                              description="No activity for 40 days")],
                          recommendations=[], model_version="v1", scored_at=NOW, source_event_id="crm-1",
                          timing={"received_at": utcnow()})
    return DealScored.create(source="dealpulse/scorer", tenant_id=tenant_id, deal_id=deal_id, data=data,
                             traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")


def verdict(tenant_id: str = "acme", deal_id: str = "D1", owner_id: str | None = "rep-1") -> DealVerdict:
    data = DealVerdictData(ai_forecast=ForecastBucket.PIPELINE, forecast_basis="win_probability", win_probability=0.3,
                           commit_admission=CommitAdmission.NOT_APPLICABLE, ai_verdict=ForecastBucket.PIPELINE,
                           reasons=["win probability below 0.50"], predictive_eligible=True,
                           thresholds_version="default-1", risk_score=70, source_event_id="crm-1", decided_at=NOW,
                           owner_id=owner_id)
    return DealVerdict.create(source="dealpulse/verdict", tenant_id=tenant_id, deal_id=deal_id, data=data)


def alert(tenant_id: str = "acme", deal_id: str = "D1", owner_id: str | None = "rep-1") -> DealAlert:
    data = DealAlertData(alert_id="a1", alert_type=AlertType.ENTERED_CRITICAL, severity="critical",
                         title="Acme renewal is now critical", summary="Risk 82", risk_score=82, owner_id=owner_id,
                         deep_link="http://localhost:8000/#deal=D1", slack_blocks=[{"type": "divider"}],
                         source_event_id="crm-1", raised_at=NOW)
    return DealAlert.create(source="dealpulse/alerts", tenant_id=tenant_id, deal_id=deal_id, data=data)


def changed(tenant_id: str = "acme", deal_id: str = "D1", owner_id: str | None = "rep-1",
            deleted: bool = False, source_event_id: str = "crm-2") -> DealChanged:
    deal = CanonicalDeal(tenant_id=tenant_id, deal_id=deal_id, name="Acme renewal", amount=48_000,
                         stage=Stage.PROPOSAL, owner_id=owner_id, source_modified_at=NOW)
    data = DealChangedData(deal=deal, changed_fields=["deleted"] if deleted else ["amount"], provider="hubspot",
                           source_event_id=source_event_id, received_at=NOW, deleted=deleted)
    return DealChanged.create(source="dealpulse/ingest", tenant_id=tenant_id, deal_id=deal_id, data=data)
