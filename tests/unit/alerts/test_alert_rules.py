"""Alert rules, pure: entering critical, risk jumps, commit not admitted, closed deals, one alert per event."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from dealpulse_alerts.deal_card import DealCard
from dealpulse_alerts.handlers import (
    AlertRules,
    PastScore,
    alert_id_for,
    compose_alert,
    scored_candidates,
    verdict_candidates,
)
from dealpulse_common.deal import Stage
from dealpulse_common.events import (
    AlertType,
    CommitAdmission,
    DealScored,
    DealVerdict,
    ForecastBucket,
    GateCheck,
    RiskCategory,
    ScoreChange,
    ScoreDelta,
    deterministic_id,
)
from dealpulse_common.topics import DEAL_ALERTS
from dealpulse_scorer.explain import risk_category
from tests import events
from tests.events import NOW

RULES = AlertRules()
DASHBOARD = "http://dash.example:8000"


def scored(risk: int, previous: int | None = None, *, ago: timedelta = timedelta(days=1), event_id: str = "s1",
           **deal: Any) -> DealScored:
    since = None if previous is None else ScoreDelta(
        previous_risk_score=previous, previous_scored_at=NOW - ago, delta=risk - previous,
        changes=[ScoreChange(field="close_date_push_count", label="Close date pushes", delta=risk - previous,
                             description=f"close date pushed 3rd time: {risk - previous:+d} risk")])
    data = events.scored_data(
        events.deal(name="Acme renewal", amount=45_000, **deal), risk_score=risk, since_previous=since,
        previous_category=None if previous is None else risk_category(previous),
    )
    return events.scored_event(data, id=event_id)


def verdict(admission: CommitAdmission, *, forecast: ForecastBucket = ForecastBucket.COMMIT,
            verdict_bucket: ForecastBucket = ForecastBucket.BEST_CASE, eligible: bool = True) -> DealVerdict:
    data = events.verdict_data(
        ai_forecast=forecast, forecast_basis="health_score", health_score=24, win_probability=0.4,
        commit_admission=admission, ai_verdict=verdict_bucket, predictive_eligible=eligible,
        gates=[GateCheck(gate="paper", passed=True, reason="Paper: score 3 with high confidence."),
               GateCheck(gate="process", passed=False, reason="Process: score 1, needs at least 2."),
               GateCheck(gate="timing", passed=False, reason="Timing: not assessed."),
               GateCheck(gate="budget", passed=False, reason="Budget: not assessed.")],
        reasons=["r"], risk_score=60, source_event_id="s1", owner_id="rep-7",
    )
    return events.verdict_event(data, id="v1")


def types(event: DealScored) -> list[AlertType]:
    return [c.alert_type for c in scored_candidates(event, RULES)]


# ---------------------------------------------------------------- entering critical


def test_a_deal_entering_critical_raises_an_alert() -> None:
    assert types(scored(80, previous=70)) == [AlertType.ENTERED_CRITICAL]


@pytest.mark.parametrize("provider", ["import", "rescore"])
def test_bulk_sources_raise_no_alerts(provider: str) -> None:
    # A history import or a model promotion re-states many deals at once: scored and judged, never alerted.
    entering = scored(80, previous=70)
    entering.data.provider = provider
    jumping = scored(70, previous=40)
    jumping.data.provider = provider
    not_admitted = verdict(CommitAdmission.NOT_ADMITTED)
    not_admitted.data.provider = provider
    assert types(entering) == [] and types(jumping) == []
    assert verdict_candidates(not_admitted) == []
    for live in ("hubspot", "salesforce", "pipedrive", "generic"):
        entering.data.provider = live
        assert types(entering) == [AlertType.ENTERED_CRITICAL]


def test_a_deal_staying_critical_raises_nothing() -> None:
    assert types(scored(90, previous=85)) == []


def test_a_deal_first_scored_critical_counts_as_entering() -> None:
    assert types(scored(82)) == [AlertType.ENTERED_CRITICAL]


def test_below_critical_without_a_jump_raises_nothing() -> None:
    assert types(scored(75, previous=70)) == []


# ---------------------------------------------------------------- risk jumps


@pytest.mark.parametrize(("previous", "now", "ago", "jump"), [
    (30, 50, timedelta(days=3), True),
    (30, 49, timedelta(days=3), False),
    (30, 50, timedelta(days=7), True),
    (30, 50, timedelta(days=8), False),
    (30, 60, timedelta(days=7, seconds=1), False),
    (60, 30, timedelta(hours=1), False),
])
def test_a_risk_jump_is_at_least_20_points_within_7_days(previous: int, now: int, ago: timedelta,
                                                         jump: bool) -> None:
    assert types(scored(now, previous=previous, ago=ago)) == ([AlertType.RISK_JUMP] if jump else [])


def test_three_rises_of_10_within_a_week_are_a_jump_from_the_lowest_score_of_the_week() -> None:
    # 40 (five days ago) -> 50 -> 60 -> 70: each step is +10 over the previous score, the week's rise is +30.
    week_low = PastScore(40, NOW - timedelta(days=5))
    second = scored(50, previous=40, ago=timedelta(days=5))
    third = scored(60, previous=50, ago=timedelta(days=3))
    fourth = scored(70, previous=60, ago=timedelta(days=1))
    assert scored_candidates(second, RULES, week_low) == []
    [jump] = scored_candidates(third, RULES, week_low)
    assert (jump.alert_type, jump.jump and jump.jump.rise) == (AlertType.RISK_JUMP, 20)
    assert [c.jump.rise for c in scored_candidates(fourth, RULES, week_low) if c.jump] == [30]
    alert = compose_alert(jump, third, DASHBOARD).data
    assert alert.summary == "Acme renewal: risk rose from 40 to 60 (+20) in 5 days."


def test_a_low_score_older_than_the_window_or_not_before_this_one_is_no_baseline() -> None:
    rising = scored(60, previous=50, ago=timedelta(days=1))
    assert scored_candidates(rising, RULES, PastScore(30, NOW - timedelta(days=7, minutes=1))) == []
    assert scored_candidates(rising, RULES, PastScore(30, NOW + timedelta(minutes=1))) == []
    assert [c.alert_type for c in scored_candidates(rising, RULES, PastScore(30, NOW - timedelta(days=7)))] == [
        AlertType.RISK_JUMP]


def test_without_stored_scores_the_previous_score_alone_decides() -> None:
    assert types(scored(55, previous=30, ago=timedelta(days=2))) == [AlertType.RISK_JUMP]
    # A stored score higher than the previous one does not hide the previous score's rise.
    assert [c.jump.rise for c in scored_candidates(scored(55, previous=30, ago=timedelta(days=2)), RULES,
                                                   PastScore(45, NOW - timedelta(days=1))) if c.jump] == [25]


def test_a_jump_into_critical_puts_entering_critical_first() -> None:
    # One event raises one alert: the consumer takes the first candidate its throttle admits.
    assert types(scored(85, previous=55)) == [AlertType.ENTERED_CRITICAL, AlertType.RISK_JUMP]


def test_the_jump_threshold_is_a_setting() -> None:
    rules = AlertRules(risk_jump_points=10, risk_jump_window=timedelta(days=1))
    assert [c.alert_type for c in scored_candidates(scored(45, previous=35, ago=timedelta(hours=5)), rules)] == [
        AlertType.RISK_JUMP]
    assert scored_candidates(scored(45, previous=35, ago=timedelta(days=2)), rules) == []


# ---------------------------------------------------------------- commit not admitted


def test_an_unadmitted_commit_raises_an_alert() -> None:
    [candidate] = verdict_candidates(verdict(CommitAdmission.NOT_ADMITTED))
    assert (candidate.alert_type, candidate.source_event_id, candidate.occurred_at) == (
        AlertType.COMMIT_NOT_ADMITTED, "v1", NOW)


@pytest.mark.parametrize("admission", [CommitAdmission.ADMITTED, CommitAdmission.NEEDS_REVIEW,
                                       CommitAdmission.NOT_APPLICABLE])
def test_other_admissions_raise_nothing(admission: CommitAdmission) -> None:
    assert verdict_candidates(verdict(admission)) == []


# ---------------------------------------------------------------- closed deals


@pytest.mark.parametrize("closed", [{"is_closed": True, "is_won": False},
                                    {"is_closed": True, "is_won": False, "stage": Stage.CLOSED_LOST},
                                    {"is_closed": True, "is_won": True, "stage": Stage.CLOSED_WON}])
def test_closed_deals_never_alert(closed: dict[str, Any]) -> None:
    assert types(scored(95, previous=40, **closed)) == []
    assert types(scored(95, **closed)) == []


def test_a_closed_deals_verdict_never_alerts() -> None:
    pinned = verdict(CommitAdmission.NOT_ADMITTED, forecast=ForecastBucket.CLOSED_LOST,
                     verdict_bucket=ForecastBucket.CLOSED_LOST, eligible=False)
    assert verdict_candidates(pinned) == []


# ---------------------------------------------------------------- the alert


def test_the_alert_id_derives_from_tenant_deal_type_and_source_event() -> None:
    [candidate] = scored_candidates(scored(80, previous=70, event_id="scored:t1:crm-9"), RULES)
    assert candidate.alert_id == alert_id_for("t1", "D1", AlertType.ENTERED_CRITICAL, "scored:t1:crm-9") == \
        deterministic_id("t1", "D1", "entered_critical", "scored:t1:crm-9")
    assert alert_id_for("t1", "D1", AlertType.RISK_JUMP, "scored:t1:crm-9") != candidate.alert_id


def test_composing_the_same_alert_twice_gives_the_same_event() -> None:
    source = scored(80, previous=58)
    candidate = scored_candidates(source, RULES)[0]
    first, again = (compose_alert(candidate, source, DASHBOARD) for _ in range(2))
    assert first.id == again.id == first.data.alert_id == candidate.alert_id
    assert first.data == again.data and first.time == NOW
    assert DEAL_ALERTS.decode(first.to_bytes()) == first


def test_an_entered_critical_alert_says_what_and_why() -> None:
    source = scored(80, previous=58, owner_id="rep-7")
    alert = compose_alert(scored_candidates(source, RULES)[0], source, DASHBOARD).data
    assert (alert.alert_type, alert.severity, alert.risk_score) == (AlertType.ENTERED_CRITICAL, "critical", 80)
    assert (alert.deal_name, alert.amount, alert.owner_id) == ("Acme renewal", 45_000, "rep-7")
    assert alert.title == "Critical risk: Acme renewal"
    assert alert.summary == "Acme renewal entered critical risk at 80/100, up from 58 (high)."
    assert alert.deep_link == "http://dash.example:8000/#deal=D1"
    assert alert.source_event_id == "s1"


def test_a_risk_jump_alert_names_the_jump() -> None:
    source = scored(62, previous=40, ago=timedelta(days=2))
    alert = compose_alert(scored_candidates(source, RULES)[0], source, DASHBOARD).data
    assert (alert.alert_type, alert.severity) == (AlertType.RISK_JUMP, "high")
    assert alert.summary == "Acme renewal: risk rose from 40 to 62 (+22) in 2 days."


def test_a_commit_alert_uses_the_deals_card_and_lists_the_failing_gates() -> None:
    source = verdict(CommitAdmission.NOT_ADMITTED)
    card = DealCard(deal_id="D1", name="Acme renewal", amount=45_000, risk_score=60,
                    risk_category=RiskCategory.HIGH)
    alert = compose_alert(verdict_candidates(source)[0], source, DASHBOARD, card).data
    assert (alert.alert_type, alert.deal_name, alert.amount, alert.owner_id) == (
        AlertType.COMMIT_NOT_ADMITTED, "Acme renewal", 45_000, "rep-7")
    assert "only 1 of its 4 commit gates" in alert.summary and "lowered from Commit to Best Case" in alert.summary
    text = str(alert.slack_blocks)
    assert "Process: score 1, needs at least 2." in text and "60/100 (high)" in text


def test_a_commit_alert_without_a_card_still_goes_out_with_the_deal_id() -> None:
    source = verdict(CommitAdmission.NOT_ADMITTED)
    alert = compose_alert(verdict_candidates(source)[0], source, DASHBOARD).data
    assert alert.title == "Commit not supported: D1"
    assert alert.deal_name is None and alert.risk_score == 60
