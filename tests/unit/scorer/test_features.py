"""Point-in-time features and segment priors."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pytest

from dealpulse_common.deal import DealHistory, ForecastCategory, Stage
from dealpulse_scorer.features import (
    FEATURE_GROUPS,
    FEATURE_INDEX,
    FEATURE_NAMES,
    FEATURES,
    N_FEATURES,
    NO_ACTIVITY_DAYS,
    UNKNOWN,
    SegmentPriors,
    build_features,
    build_matrix,
    quarter_end,
)
from tests.events import AS_OF, make_deal

PRIORS = SegmentPriors(global_rate=0.3, rates={"industry": {"software": 0.4}})


def value(x: np.ndarray, name: str) -> float:
    return float(x[FEATURE_INDEX[name]])


def test_feature_list_is_ordered_unique_and_grouped() -> None:
    assert 15 <= N_FEATURES <= 22
    assert len(set(FEATURE_NAMES)) == N_FEATURES
    grouped = sorted(i for indices in FEATURE_GROUPS.values() for i in indices)
    assert grouped == list(range(N_FEATURES))
    assert all(group in FEATURE_NAMES for group in FEATURE_GROUPS), "a group is named after its primary feature"
    assert {spec.kind for spec in FEATURES} <= {"numeric", "count", "ordinal", "flag", "score", "prior"}


def test_vector_shape_and_dtype() -> None:
    x = build_features(make_deal(), AS_OF, PRIORS)
    assert x.shape == (N_FEATURES,) and x.dtype == np.float32
    matrix = build_matrix([make_deal(), make_deal(amount=1.0)], [AS_OF, AS_OF], PRIORS)
    assert matrix.shape == (2, N_FEATURES) and matrix.dtype == np.float32
    assert build_matrix([], [], PRIORS).shape == (0, N_FEATURES)


@pytest.mark.parametrize(
    "outcome",
    [
        {"is_closed": True, "is_won": True, "closed_at": AS_OF - timedelta(days=1)},
        {"is_closed": True, "is_won": False, "closed_at": AS_OF + timedelta(days=30)},
        {"is_closed": False, "is_won": None, "closed_at": None},
    ],
)
def test_outcome_fields_never_change_the_vector(outcome: dict[str, object]) -> None:
    baseline = build_features(make_deal(), AS_OF, PRIORS)
    assert np.array_equal(build_features(make_deal(**outcome), AS_OF, PRIORS), baseline)


def test_closed_stages_do_not_reveal_the_outcome() -> None:
    won = make_deal(stage=Stage.CLOSED_WON, forecast_category=ForecastCategory.CLOSED, is_won=True, is_closed=True)
    lost = make_deal(stage=Stage.CLOSED_LOST, forecast_category=ForecastCategory.CLOSED, is_won=False, is_closed=True)
    x_won, x_lost = build_features(won, AS_OF, PRIORS), build_features(lost, AS_OF, PRIORS)
    assert np.array_equal(x_won, x_lost)
    assert value(x_won, "stage_ordinal") == UNKNOWN and value(x_won, "forecast_ordinal") == UNKNOWN


def test_history_and_derived_activity_recency() -> None:
    from_history = build_features(make_deal(), AS_OF, PRIORS)
    assert value(from_history, "days_since_last_activity") == pytest.approx(3.0)
    derived = make_deal(history=DealHistory(), last_activity_at=AS_OF - timedelta(days=10))
    assert value(build_features(derived, AS_OF, PRIORS), "days_since_last_activity") == pytest.approx(10.0)
    silent = build_features(make_deal(history=DealHistory(), last_activity_at=None), AS_OF, PRIORS)
    assert value(silent, "days_since_last_activity") == NO_ACTIVITY_DAYS
    assert value(silent, "has_activity") == 0.0
    assert value(from_history, "has_activity") == 1.0


def test_history_dealpulse_does_not_have_is_unknown_not_zero() -> None:
    x = build_features(make_deal(history=DealHistory()), AS_OF, PRIORS)
    for name in ("days_in_stage", "close_date_push_count", "amount_change_count", "activity_count_30d"):
        assert value(x, name) == UNKNOWN, name
    assert value(x, "deal_age_days") == pytest.approx(60.0)
    known = build_features(make_deal(history=DealHistory(close_date_push_count=0, amount_change_count=2,
                                                         activity_count_30d=0)), AS_OF, PRIORS)
    assert [value(known, n) for n in ("close_date_push_count", "amount_change_count", "activity_count_30d")] == [
        0, 2, 0]


def test_close_date_timing() -> None:
    overdue = build_features(make_deal(expected_close_date=AS_OF.date() - timedelta(days=5)), AS_OF, PRIORS)
    assert value(overdue, "days_to_expected_close") == -5
    march = build_features(make_deal(expected_close_date=date(2027, 3, 20)), AS_OF, PRIORS)
    assert value(march, "close_days_before_quarter_end") == 11
    assert quarter_end(date(2026, 12, 1)) == date(2026, 12, 31)
    assert quarter_end(date(2026, 4, 1)) == date(2026, 6, 30)
    missing = build_features(make_deal(expected_close_date=None), AS_OF, PRIORS)
    assert value(missing, "close_days_before_quarter_end") == UNKNOWN


def test_qualification_features() -> None:
    x = build_features(make_deal(), AS_OF, PRIORS)
    assert value(x, "has_qualification") == 1.0
    assert value(x, "health_score") == 2 + 1 + 2 + 2 + 3
    assert value(x, "champion_score") == 2 and value(x, "economic_buyer_score") == 1
    assert value(x, "commit_gates_confirmed") == 2  # paper and process: score >= 2 with high confidence
    bare = build_features(make_deal(qualification={}), AS_OF, PRIORS)
    assert value(bare, "has_qualification") == 0.0 and value(bare, "health_score") == UNKNOWN
    assert value(bare, "champion_score") == UNKNOWN


def test_naive_timestamps_are_read_as_utc() -> None:
    aware = build_features(make_deal(), AS_OF, PRIORS)
    naive_deal = make_deal(created_at=(AS_OF - timedelta(days=60)).replace(tzinfo=None))
    naive = build_features(naive_deal, datetime(2026, 11, 2, 12, 0), PRIORS)
    assert np.array_equal(aware, naive)


def test_priors_fall_back_to_global_under_ten_deals() -> None:
    deals = [make_deal(industry="software")] * 12 + [make_deal(industry="retail")] * 9
    outcomes = [True] * 6 + [False] * 6 + [True] * 9
    priors = SegmentPriors.fit(deals, outcomes)
    assert priors.global_rate == pytest.approx(15 / 21)
    assert priors.rate("industry", "software") == pytest.approx(0.5)
    assert priors.rate("industry", "Retail ") == priors.global_rate  # 9 deals: too few
    assert priors.rate("industry", "unseen") == priors.global_rate
    assert priors.rate("industry", None) == priors.global_rate
    assert priors.counts["industry"]["retail"] == 9


def test_priors_json_round_trip() -> None:
    priors = SegmentPriors.fit([make_deal()] * 10, [True] * 3 + [False] * 7)
    again = SegmentPriors.from_json(priors.to_json())
    assert again == priors
    x = build_features(make_deal(), AS_OF, again)
    assert value(x, "prior_industry") == pytest.approx(0.3)
