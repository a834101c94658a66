"""Verdict rules, pure: AI forecast boundaries, commit admission, downgrade, closed deals, thresholds version."""

from __future__ import annotations

from typing import Any

import pytest

from dealpulse_common.deal import Confidence, ForecastCategory, QualificationCategory, Stage
from dealpulse_common.events import (
    CommitAdmission,
    DealScoredData,
    DealVerdictData,
    ForecastBucket,
    RiskCategory,
    deterministic_id,
)
from dealpulse_common.tenant_rules import VerdictThresholds
from dealpulse_verdict.handlers import ai_forecast, decide, downgrade, verdict_event
from dealpulse_verdict.thresholds import DEFAULT_THRESHOLDS, StampedThresholds, stamp_tenant_thresholds
from tests import events
from tests.events import NOW

DEFAULTS = VerdictThresholds()
HIGH, MEDIUM, LOW = Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW


def qualification(**entries: tuple[int, Confidence]) -> dict[str, dict[str, Any]]:
    return {name: {"score": score, "confidence": confidence.value} for name, (score, confidence) in entries.items()}


# Health score 25, with every commit gate at score 2-3 but at the confidence each test chooses.
def commit_worthy(paper: Confidence = HIGH, process: Confidence = HIGH, timing: Confidence = LOW,
                  budget: Confidence = LOW) -> dict[str, dict[str, Any]]:
    return qualification(pain=(3, HIGH), metrics=(3, HIGH), champion=(3, HIGH), economic_buyer=(3, HIGH),
                         decision_criteria=(3, HIGH), paper=(3, paper), process=(3, process), timing=(2, timing),
                         budget=(2, budget))


def scored(win_probability: float = 0.4, **deal: Any) -> DealScoredData:
    return events.scored_data(events.deal(**deal), risk_score=round(100 * (1 - win_probability)),
                              risk_category=RiskCategory.HIGH, win_probability=win_probability)


def verdict_for(data: DealScoredData, stamped: StampedThresholds = DEFAULT_THRESHOLDS) -> DealVerdictData:
    return decide(data, stamped, source_event_id="scored:t1:crm-1", decided_at=NOW)


# ---------------------------------------------------------------- AI forecast


@pytest.mark.parametrize(("health", "bucket"), [
    (30, ForecastBucket.COMMIT), (24, ForecastBucket.COMMIT), (23, ForecastBucket.BEST_CASE),
    (18, ForecastBucket.BEST_CASE), (17, ForecastBucket.PIPELINE), (0, ForecastBucket.PIPELINE),
])
def test_forecast_from_the_health_score_at_its_boundaries(health: int, bucket: ForecastBucket) -> None:
    forecast = ai_forecast(health, win_probability=0.99, thresholds=DEFAULTS)
    assert (forecast.bucket, forecast.basis) == (bucket, "health_score")


@pytest.mark.parametrize(("probability", "bucket"), [
    (0.75, ForecastBucket.COMMIT), (0.7499, ForecastBucket.BEST_CASE), (0.50, ForecastBucket.BEST_CASE),
    (0.4999, ForecastBucket.PIPELINE), (1.0, ForecastBucket.COMMIT), (0.0, ForecastBucket.PIPELINE),
])
def test_forecast_from_win_probability_without_qualification(probability: float, bucket: ForecastBucket) -> None:
    forecast = ai_forecast(None, probability, DEFAULTS)
    assert (forecast.bucket, forecast.basis) == (bucket, "win_probability")
    assert "No qualification" in forecast.reason


def test_the_verdict_uses_the_deals_health_score_when_it_has_qualification() -> None:
    verdict = verdict_for(scored(0.95, qualification=qualification(pain=(3, HIGH), champion=(2, LOW))))
    assert verdict.health_score == 5
    assert (verdict.ai_forecast, verdict.forecast_basis) == (ForecastBucket.PIPELINE, "health_score")


def test_a_low_win_probability_reads_honestly_just_below_the_threshold() -> None:
    assert "74.99%" in ai_forecast(None, 0.7499, DEFAULTS).reason


# ---------------------------------------------------------------- commit admission


def test_two_high_confidence_gates_admit_an_ai_commit() -> None:
    verdict = verdict_for(scored(qualification=commit_worthy()))
    assert verdict.ai_forecast is ForecastBucket.COMMIT
    assert verdict.commit_admission is CommitAdmission.ADMITTED
    assert verdict.ai_verdict is ForecastBucket.COMMIT
    assert [(g.gate, g.passed) for g in verdict.gates] == [
        ("paper", True), ("process", True), ("timing", False), ("budget", False)]


def test_gates_scored_but_not_confirmed_need_review_and_keep_the_verdict() -> None:
    verdict = verdict_for(scored(qualification=commit_worthy(paper=MEDIUM, process=LOW)))
    assert verdict.commit_admission is CommitAdmission.NEEDS_REVIEW
    assert verdict.ai_verdict is ForecastBucket.COMMIT
    assert any("needs review" in r for r in verdict.reasons)
    assert any(r.startswith("Paper: score 3, but medium confidence") for r in verdict.reasons)


def test_one_supported_gate_plus_unconfirmed_ones_needs_review() -> None:
    verdict = verdict_for(scored(qualification=commit_worthy(process=LOW)))
    assert verdict.commit_admission is CommitAdmission.NEEDS_REVIEW


def test_an_unsupported_ai_commit_is_not_admitted_and_downgraded_one_level() -> None:
    q = qualification(pain=(3, HIGH), metrics=(3, HIGH), champion=(3, HIGH), economic_buyer=(3, HIGH),
                      decision_criteria=(3, HIGH), competition=(3, HIGH), paper=(3, HIGH), process=(1, HIGH),
                      timing=(1, HIGH), budget=(1, LOW))
    verdict = verdict_for(scored(qualification=q))
    assert verdict.health_score == 24
    assert verdict.ai_forecast is ForecastBucket.COMMIT
    assert verdict.commit_admission is CommitAdmission.NOT_ADMITTED
    assert verdict.ai_verdict is ForecastBucket.BEST_CASE
    reasons = {g.gate: g.reason for g in verdict.gates}
    assert reasons == {"paper": "Paper: score 3 with high confidence.",
                       "process": "Process: score 1, needs at least 2.",
                       "timing": "Timing: score 1, needs at least 2.", "budget": "Budget: score 1, needs at least 2."}
    assert any("lowered from Commit to Best Case" in r for r in verdict.reasons)


def test_a_rep_commit_without_gates_is_not_admitted_and_the_ai_verdict_drops() -> None:
    # The AI says Best Case (health 20); the rep calls Commit with no gate evidence.
    q = qualification(pain=(3, HIGH), metrics=(3, HIGH), champion=(3, HIGH), economic_buyer=(3, HIGH),
                      decision_criteria=(3, HIGH), competition=(3, HIGH), paper=(2, LOW))
    verdict = verdict_for(scored(qualification=q, forecast_category=ForecastCategory.COMMIT))
    assert (verdict.ai_forecast, verdict.rep_forecast) == (ForecastBucket.BEST_CASE, ForecastCategory.COMMIT)
    assert verdict.commit_admission is CommitAdmission.NOT_ADMITTED
    assert verdict.ai_verdict is ForecastBucket.PIPELINE
    assert any("called by the rep)" in r for r in verdict.reasons)


def test_a_rep_commit_backed_by_gates_is_admitted_without_changing_the_ai_call() -> None:
    q = qualification(paper=(3, HIGH), budget=(2, HIGH))
    verdict = verdict_for(scored(0.6, qualification=q, forecast_category=ForecastCategory.COMMIT))
    assert verdict.commit_admission is CommitAdmission.ADMITTED
    assert verdict.ai_verdict is ForecastBucket.PIPELINE  # health 5: admission supports a call, never raises one


def test_a_commit_stage_speaks_for_a_rep_who_sent_no_forecast_category() -> None:
    verdict = verdict_for(scored(0.6, stage=Stage.COMMIT))
    assert verdict.commit_admission is CommitAdmission.NOT_ADMITTED
    assert (verdict.ai_forecast, verdict.ai_verdict) == (ForecastBucket.BEST_CASE, ForecastBucket.PIPELINE)


def test_when_both_call_commit_the_reason_says_so() -> None:
    verdict = verdict_for(scored(0.9, forecast_category=ForecastCategory.COMMIT))
    assert any("called by the rep and the AI" in r for r in verdict.reasons)


def test_no_commit_call_means_admission_does_not_apply_but_gates_still_show() -> None:
    verdict = verdict_for(scored(0.6, forecast_category=ForecastCategory.BEST_CASE))
    assert verdict.commit_admission is CommitAdmission.NOT_APPLICABLE
    assert verdict.ai_verdict is verdict.ai_forecast is ForecastBucket.BEST_CASE
    assert len(verdict.gates) == 4 and not any(g.passed for g in verdict.gates)


def test_a_pipeline_verdict_cannot_drop_below_pipeline() -> None:
    verdict = verdict_for(scored(0.1, forecast_category=ForecastCategory.COMMIT))
    assert verdict.commit_admission is CommitAdmission.NOT_ADMITTED
    assert verdict.ai_verdict is ForecastBucket.PIPELINE
    assert downgrade(ForecastBucket.PIPELINE, 2) is ForecastBucket.PIPELINE


# ---------------------------------------------------------------- closed deals


@pytest.mark.parametrize(("deal", "outcome"), [
    ({"is_closed": True, "is_won": True, "stage": Stage.CLOSED_WON}, ForecastBucket.CLOSED_WON),
    ({"is_closed": True, "is_won": False, "stage": Stage.CLOSED_LOST}, ForecastBucket.CLOSED_LOST),
    ({"is_closed": True}, ForecastBucket.CLOSED_LOST),
    ({"is_closed": True, "is_won": None, "stage": Stage.CLOSED_LOST}, ForecastBucket.CLOSED_LOST),
])
def test_a_closed_deal_is_pinned_to_its_outcome_and_never_predictive(deal: dict[str, Any],
                                                                    outcome: ForecastBucket) -> None:
    # Everything about it would otherwise say Commit: the outcome wins.
    verdict = verdict_for(scored(0.95, forecast_category=ForecastCategory.COMMIT, qualification=commit_worthy(),
                                 **deal))
    assert verdict.ai_forecast is verdict.ai_verdict is outcome
    assert verdict.forecast_basis == "outcome"
    assert verdict.predictive_eligible is False
    assert verdict.commit_admission is CommitAdmission.NOT_APPLICABLE and verdict.gates == []


def test_an_open_deal_is_predictive_never_null() -> None:
    assert verdict_for(scored()).predictive_eligible is True


# ---------------------------------------------------------------- thresholds


def test_defaults_are_stamped_with_their_version() -> None:
    verdict = verdict_for(scored())
    assert verdict.thresholds_version == DEFAULT_THRESHOLDS.version == "default-1"
    assert stamp_tenant_thresholds("t1", None, None) is DEFAULT_THRESHOLDS
    assert stamp_tenant_thresholds("t1", None, 4) is DEFAULT_THRESHOLDS  # settings without a verdict section


def test_a_tenants_thresholds_apply_and_their_version_is_stamped() -> None:
    stamped = stamp_tenant_thresholds("t1", {"commit_health_score": 20, "best_case_health_score": 15}, 7)
    q = qualification(pain=(3, HIGH), metrics=(3, HIGH), champion=(3, HIGH), economic_buyer=(3, HIGH),
                      paper=(3, HIGH), budget=(3, HIGH), timing=(2, LOW))
    verdict = verdict_for(scored(qualification=q), stamped)
    assert verdict.thresholds_version == "tenant-7"
    assert (verdict.health_score, verdict.ai_forecast) == (20, ForecastBucket.COMMIT)
    assert verdict.commit_admission is CommitAdmission.ADMITTED


def test_the_downgrade_depth_is_a_tenant_setting() -> None:
    two_levels = stamp_tenant_thresholds("t1", {"downgrade_levels": 2}, 3)
    assert verdict_for(scored(0.9), two_levels).ai_verdict is ForecastBucket.PIPELINE
    no_downgrade = stamp_tenant_thresholds("t1", {"downgrade_levels": 0}, 3)
    verdict = verdict_for(scored(0.9), no_downgrade)
    assert (verdict.commit_admission, verdict.ai_verdict) == (CommitAdmission.NOT_ADMITTED, ForecastBucket.COMMIT)


def test_a_tenant_can_choose_its_gates() -> None:
    stamped = stamp_tenant_thresholds("t1", {"gate_categories": ["paper", "budget"], "gates_required": 1}, 2)
    verdict = verdict_for(scored(0.9, qualification=qualification(budget=(2, HIGH))), stamped)
    assert verdict.ai_forecast is ForecastBucket.PIPELINE  # health 2: the deal carries qualification
    stamped_wp = stamp_tenant_thresholds("t1", {"gate_categories": [QualificationCategory.BUDGET.value],
                                                "gates_required": 1}, 2)
    commit = verdict_for(scored(0.9, forecast_category=ForecastCategory.COMMIT,
                                qualification=qualification(budget=(2, HIGH))), stamped_wp)
    assert commit.commit_admission is CommitAdmission.ADMITTED
    assert [g.gate for g in commit.gates] == ["budget"]


@pytest.mark.parametrize("bad", [
    {"commit_health_score": 10, "best_case_health_score": 20},
    {"commit_win_probability": 1.5},
    {"gates_required": 5},
    {"unknown_knob": 1},
    "not an object",
])
def test_invalid_tenant_thresholds_fall_back_to_the_defaults(bad: Any) -> None:
    assert stamp_tenant_thresholds("t1", bad, 9) is DEFAULT_THRESHOLDS


# ---------------------------------------------------------------- the event


def test_the_verdict_event_id_derives_from_the_scored_event_so_a_replay_matches() -> None:
    source = events.scored_event(scored(), id="scored:t1:crm-1")
    data = verdict_for(source.data)
    first, again = verdict_event(source, data), verdict_event(source, data)
    assert first.id == again.id == deterministic_id("scored:t1:crm-1")
    assert first.data == again.data and first.time == data.decided_at
    assert (first.tenantid, first.dealid, first.data.source_event_id) == ("t1", "D1", "scored:t1:crm-1")


# ---------------------------------------------------------------- what changed


def test_a_verdict_changed_only_when_its_judgement_did() -> None:
    first = verdict_for(scored(win_probability=0.4))
    assert first.changed, "a deal's first verdict is news"
    rescored = decide(scored(win_probability=0.42), DEFAULT_THRESHOLDS, source_event_id="scored:t1:crm-2",
                      decided_at=NOW, previous=first)
    assert (rescored.ai_verdict, rescored.win_probability) == (first.ai_verdict, 0.42)
    assert rescored.changed is False, "another win probability in the same buckets is not a change"
    called_commit = decide(scored(win_probability=0.42, forecast_category=ForecastCategory.COMMIT),
                           DEFAULT_THRESHOLDS, source_event_id="scored:t1:crm-3", decided_at=NOW, previous=rescored)
    assert called_commit.commit_admission is not rescored.commit_admission
    assert called_commit.changed is True
