"""A deal's verdict from its score: AI forecast, commit admission, AI verdict, and closed deals pinned.

Pure rules, no I/O: the one implementation of each (the reviewed system had four copies of the forecast formula).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from dealpulse_common.deal import CanonicalDeal, Confidence, ForecastCategory, QualificationEntry, Stage
from dealpulse_common.events import (
    OPEN_BUCKETS,
    OVERRIDE_PROVIDER,
    CommitAdmission,
    DealScored,
    DealScoredData,
    DealVerdict,
    DealVerdictData,
    DealVerdictOverride,
    DealVerdictOverrideData,
    ForecastBucket,
    GateCheck,
    deterministic_id,
)
from dealpulse_common.tenant_rules import VerdictThresholds
from dealpulse_common.tracing import continue_trace
from dealpulse_verdict.thresholds import StampedThresholds

SOURCE = "dealpulse/verdict"



@dataclass(frozen=True)
class Forecast:
    bucket: ForecastBucket
    basis: Literal["health_score", "win_probability"]
    reason: str


def ai_forecast(health_score: int | None, win_probability: float, thresholds: VerdictThresholds) -> Forecast:
    """From the health score when the deal carries qualification, otherwise from the model's win probability."""
    t = thresholds
    if health_score is not None:
        if health_score >= t.commit_health_score:
            return Forecast(ForecastBucket.COMMIT, "health_score",
                            f"Health score {health_score} reaches the Commit threshold ({t.commit_health_score}).")
        if health_score >= t.best_case_health_score:
            return Forecast(ForecastBucket.BEST_CASE, "health_score",
                            f"Health score {health_score} reaches Best Case ({t.best_case_health_score}) but not "
                            f"Commit ({t.commit_health_score}).")
        return Forecast(ForecastBucket.PIPELINE, "health_score",
                        f"Health score {health_score} is below Best Case ({t.best_case_health_score}).")
    shown = _percent(win_probability)
    if win_probability >= t.commit_win_probability:
        return Forecast(ForecastBucket.COMMIT, "win_probability",
                        f"No qualification recorded; win probability {shown} reaches Commit "
                        f"({_percent(t.commit_win_probability)}).")
    if win_probability >= t.best_case_win_probability:
        return Forecast(ForecastBucket.BEST_CASE, "win_probability",
                        f"No qualification recorded; win probability {shown} reaches Best Case "
                        f"({_percent(t.best_case_win_probability)}) but not Commit "
                        f"({_percent(t.commit_win_probability)}).")
    return Forecast(ForecastBucket.PIPELINE, "win_probability",
                    f"No qualification recorded; win probability {shown} is below Best Case "
                    f"({_percent(t.best_case_win_probability)}).")


class GateState(StrEnum):
    SUPPORTED = "supported"  # scored high enough, with high confidence: counts toward admission
    UNCONFIRMED = "unconfirmed"  # scored high enough, but the evidence is not high-confidence
    WEAK = "weak"
    MISSING = "missing"


@dataclass(frozen=True)
class Gate:
    state: GateState
    check: GateCheck


def assess_gate(category: str, entry: QualificationEntry | None, thresholds: VerdictThresholds) -> Gate:
    name = category.replace("_", " ").capitalize()
    minimum = thresholds.gate_min_score
    if entry is None:
        return Gate(GateState.MISSING, GateCheck(gate=category, passed=False, reason=f"{name}: not assessed."))
    if entry.score < minimum:
        return Gate(GateState.WEAK, GateCheck(
            gate=category, passed=False, reason=f"{name}: score {entry.score}, needs at least {minimum}."))
    if entry.confidence is not Confidence.HIGH:
        return Gate(GateState.UNCONFIRMED, GateCheck(
            gate=category, passed=False,
            reason=f"{name}: score {entry.score}, but {entry.confidence.value} confidence; needs high."))
    return Gate(GateState.SUPPORTED, GateCheck(
        gate=category, passed=True, reason=f"{name}: score {entry.score} with high confidence."))


@dataclass(frozen=True)
class Admission:
    status: CommitAdmission
    gates: list[Gate]
    reason: str | None


def rep_calls_commit(deal: CanonicalDeal) -> bool:
    """The rep's forecast category says Commit; a CRM that sends no category speaks through its Commit stage."""
    if deal.forecast_category is not None:
        return deal.forecast_category is ForecastCategory.COMMIT
    return deal.stage is Stage.COMMIT


def commit_admission(deal: CanonicalDeal, forecast: ForecastBucket, thresholds: VerdictThresholds) -> Admission:
    """Whether a Commit call (the rep's or the AI's) is backed by enough high-confidence gate evidence.

    ``needs_review`` means the gates are there by score but not confirmed: confirming them would admit the deal.
    """
    gates = [assess_gate(c.value, deal.qualification.get(c), thresholds) for c in thresholds.gate_categories]
    callers = [who for who, calls in (("rep", rep_calls_commit(deal)), ("AI", forecast is ForecastBucket.COMMIT))
               if calls]
    if not callers:
        return Admission(CommitAdmission.NOT_APPLICABLE, gates, None)
    called = f"Commit (called by the {' and the '.join(callers)})"
    supported = [g.check.gate for g in gates if g.state is GateState.SUPPORTED]
    unconfirmed = [g.check.gate for g in gates if g.state is GateState.UNCONFIRMED]
    required, total = thresholds.gates_required, len(gates)
    if len(supported) >= required:
        return Admission(CommitAdmission.ADMITTED, gates,
                         f"{called} admitted: {len(supported)} of {total} gates supported ({', '.join(supported)}).")
    if len(supported) + len(unconfirmed) >= required:
        return Admission(CommitAdmission.NEEDS_REVIEW, gates,
                         f"{called} needs review: {', '.join(unconfirmed)} scored high enough but without high "
                         f"confidence; confirming the evidence would admit it.")
    return Admission(CommitAdmission.NOT_ADMITTED, gates,
                     f"{called} not admitted: {len(supported)} of {total} gates supported with high confidence, "
                     f"{required} needed.")


def downgrade(bucket: ForecastBucket, levels: int) -> ForecastBucket:
    # The open buckets run from least to most confident; a downgrade moves down them and stops at the bottom.
    index = OPEN_BUCKETS.index(bucket)
    return OPEN_BUCKETS[max(0, index - levels)]


def closed_outcome(deal: CanonicalDeal) -> ForecastBucket | None:
    """The outcome a closed deal is pinned to, or None for an open deal.

    Closed and won are what ingest's normaliser decided (``is_closed``, ``is_won``); nothing here re-reads stages.
    """
    if not deal.is_closed:
        return None
    return ForecastBucket.CLOSED_WON if deal.is_won else ForecastBucket.CLOSED_LOST


def label(bucket: ForecastBucket) -> str:
    return bucket.value.replace("_", " ").title()


def decide(scored: DealScoredData, stamped: StampedThresholds, *, source_event_id: str, decided_at: datetime,
           previous: DealVerdictData | None = None) -> DealVerdictData:
    """The verdict of a score; ``previous``, the deal's latest verdict before it, decides whether it ``changed``
    and hands on the manager's override in force — which a deal's close ends (its verdict is the outcome)."""
    verdict = _verdict(scored, stamped, source_event_id=source_event_id, decided_at=decided_at)
    if previous is not None and verdict.predictive_eligible:
        verdict.override = previous.override
    verdict.changed = verdict_changed(verdict, previous)
    return verdict


def verdict_changed(verdict: DealVerdictData, previous: DealVerdictData | None) -> bool:
    """What makes a verdict news: the deal's first, or a new AI forecast, AI verdict, commit admission or override
    in force. A new score alone (another win probability, the same buckets) is not."""
    return previous is None or _judgement(verdict) != _judgement(previous)


def _judgement(verdict: DealVerdictData) -> tuple[ForecastBucket, ForecastBucket, CommitAdmission, str | None]:
    override = verdict.override.forecast_category.value if verdict.override else None
    return verdict.ai_forecast, verdict.ai_verdict, verdict.commit_admission, override


def with_override(current: DealVerdictData, command: DealVerdictOverrideData) -> DealVerdictData:
    """The deal's latest verdict re-stated with the override ``command`` puts in force beside its AI verdict (none
    for a removal). It is news on the feed; to alerts it is a re-statement, not a new judgement of the deal."""
    if not current.predictive_eligible:
        raise ValueError("the deal closed before the override applied: its verdict is pinned to the outcome")
    return current.model_copy(update={"override": command.requested(current.ai_verdict), "changed": True,
                                      "provider": OVERRIDE_PROVIDER})


def _verdict(scored: DealScoredData, stamped: StampedThresholds, *, source_event_id: str,
             decided_at: datetime) -> DealVerdictData:
    deal = scored.deal
    thresholds = stamped.thresholds
    health_score = deal.health_score()
    common = {
        "health_score": health_score, "win_probability": scored.win_probability,
        "rep_forecast": deal.forecast_category, "thresholds_version": stamped.version,
        "risk_score": scored.risk_score, "source_event_id": source_event_id, "decided_at": decided_at,
        "owner_id": deal.owner_id, "provider": scored.provider,
    }
    outcome = closed_outcome(deal)
    if outcome is not None:
        guessed = deal.is_won is None and outcome is ForecastBucket.CLOSED_LOST
        unstated = " (the CRM did not say whether it was won; treated as lost)" if guessed else ""
        return DealVerdictData(
            ai_forecast=outcome, forecast_basis="outcome", commit_admission=CommitAdmission.NOT_APPLICABLE,
            ai_verdict=outcome, predictive_eligible=False,
            reasons=[f"{label(outcome)}{unstated}: the verdict is pinned to the outcome and the deal is excluded "
                     f"from open-pipeline aggregates."],
            **common,
        )
    forecast = ai_forecast(health_score, scored.win_probability, thresholds)
    admission = commit_admission(deal, forecast.bucket, thresholds)
    verdict = forecast.bucket
    reasons = [forecast.reason]
    if admission.reason:
        reasons.append(admission.reason)
    if admission.status is CommitAdmission.NOT_ADMITTED:
        verdict = downgrade(forecast.bucket, thresholds.downgrade_levels)
        if verdict is not forecast.bucket:
            reasons.append(f"AI verdict lowered from {label(forecast.bucket)} to {label(verdict)} because the "
                           f"Commit call is not supported.")
    if admission.status in (CommitAdmission.NOT_ADMITTED, CommitAdmission.NEEDS_REVIEW):
        reasons.extend(g.check.reason for g in admission.gates if not g.check.passed)
    return DealVerdictData(
        ai_forecast=forecast.bucket, forecast_basis=forecast.basis, commit_admission=admission.status,
        gates=[g.check for g in admission.gates], ai_verdict=verdict, reasons=reasons, predictive_eligible=True,
        **common,
    )


def verdict_event(cause: DealScored | DealVerdictOverride, data: DealVerdictData) -> DealVerdict:
    """The event for a verdict (of a score, or re-stated by an override command); its id derives from its cause's,
    so a replay yields the same event."""
    time = cause.data.requested_at if isinstance(cause, DealVerdictOverride) else data.decided_at
    return DealVerdict.create(
        source=SOURCE, tenant_id=cause.tenantid, deal_id=cause.dealid, data=data,
        id=deterministic_id(cause.id), time=time, traceparent=continue_trace(cause.traceparent),
    )


def _percent(probability: float) -> str:
    return f"{probability * 100:.2f}".rstrip("0").rstrip(".") + "%"
