"""Risk score rules, attributions faithful to the model, why-it-changed, recommendations."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from dealpulse_common.deal import (
    Confidence,
    DealHistory,
    ForecastCategory,
    QualificationCategory,
    QualificationEntry,
)
from dealpulse_common.events import RiskCategory, RiskFactor
from dealpulse_scorer.explain import (
    GROUP_NAMES,
    attribute,
    recommend,
    risk_category,
    risk_score,
    top_factors,
    why_changed,
)
from dealpulse_scorer.features import FEATURE_GROUPS, FEATURE_INDEX
from dealpulse_scorer.handlers import ScoreInput, score_deals
from dealpulse_scorer.model import LoadedModel
from dealpulse_scorer.training.dataset import read_deals
from tests.events import AS_OF, make_deal
from tests.unit.scorer.helpers import TrainedModel


class CountingModel:
    """Wraps a model to count inference calls."""

    def __init__(self, model: LoadedModel) -> None:
        self.inner, self.calls = model, 0
        self.reference, self.version = model.reference, model.version

    def predict_win(self, features: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self.inner.predict_win(features)

    def features_matrix(self, deals, as_ofs):  # type: ignore[no-untyped-def]
        return self.inner.features_matrix(deals, as_ofs)


@pytest.fixture(scope="module")
def sample_rows(demo_data: Path, trained: TrainedModel) -> np.ndarray:
    labelled = read_deals(demo_data)[:60]
    return trained.model.features_matrix([d for d, _, _ in labelled], [a for _, a, _ in labelled])


@pytest.mark.parametrize(
    ("p", "score", "category"),
    [
        (1.0, 0, RiskCategory.LOW),
        (0.75, 25, RiskCategory.LOW),
        (0.74, 26, RiskCategory.MEDIUM),
        (0.50, 50, RiskCategory.MEDIUM),
        (0.49, 51, RiskCategory.HIGH),
        (0.25, 75, RiskCategory.HIGH),
        (0.24, 76, RiskCategory.CRITICAL),
        (0.0, 100, RiskCategory.CRITICAL),
        (0.745, 26, RiskCategory.MEDIUM),  # 25.5 rounds half up
    ],
)
def test_risk_score_and_category_boundaries(p: float, score: int, category: RiskCategory) -> None:
    assert risk_score(p) == score
    assert risk_category(score) == category


def test_risk_category_rejects_out_of_range() -> None:
    for bad in (-1, 101):
        with pytest.raises(ValueError):
            risk_category(bad)


def test_attributions_agree_with_the_models_response(trained: TrainedModel, sample_rows: np.ndarray) -> None:
    model = trained.model
    probabilities, impacts = attribute(model, sample_rows)
    assert impacts.shape == (len(sample_rows), len(GROUP_NAMES))
    assert np.allclose(probabilities, model.predict_win(sample_rows))
    checked = 0
    for i, x in enumerate(sample_rows):
        for j, group in enumerate(GROUP_NAMES):
            moved = x.copy()
            columns = list(FEATURE_GROUPS[group])
            moved[columns] = model.reference[columns]
            response = (model.predict_win(x)[0] - model.predict_win(moved)[0]) * 100
            assert impacts[i, j] == pytest.approx(response, abs=1e-6)
            if abs(response) > 0.5:
                assert np.sign(impacts[i, j]) == np.sign(response)
                checked += 1
    assert checked > 20


def test_top_factors_are_the_largest_and_readable(trained: TrainedModel, sample_rows: np.ndarray) -> None:
    counting = CountingModel(trained.model)
    factors = top_factors(counting, sample_rows)
    assert counting.calls == 1, "one batched model call for the whole batch"
    _, impacts = attribute(trained.model, sample_rows)
    for row_factors, row_impacts in zip(factors, impacts, strict=True):
        assert len(row_factors) == 3
        expected = sorted(np.abs(row_impacts), reverse=True)[:3]
        assert [abs(f.impact) for f in row_factors] == pytest.approx([round(e, 1) for e in expected], abs=0.051)
        for factor in row_factors:
            assert factor.feature in GROUP_NAMES and factor.label
            assert ("lowers" if factor.impact < 0 else "raises") in factor.description


def test_factor_wording_for_pushes(trained: TrainedModel) -> None:
    deal = make_deal(history=DealHistory(close_date_push_count=4, activity_count_30d=6, days_since_last_activity=3))
    [factors] = top_factors(trained.model, trained.model.features(deal, AS_OF), deals=[deal], top_n=len(GROUP_NAMES))
    pushes = next(f for f in factors if f.feature == "close_date_push_count")
    assert pushes.description.startswith("Close date pushed 4 times — ")


def _changed_pair(model: LoadedModel) -> tuple[np.ndarray, np.ndarray]:
    before = make_deal()
    after = make_deal(
        history=DealHistory(
            stage_entered_at=AS_OF - timedelta(days=12),
            close_date_push_count=2,
            activity_count_30d=1,
            days_since_last_activity=25.0,
        ),
        qualification={
            **before.qualification,
            QualificationCategory.CHAMPION: QualificationEntry(score=0, confidence=Confidence.LOW),
        },
        expected_close_date=date(2027, 2, 1),
    )
    return model.features(before, AS_OF), model.features(after, AS_OF)


def test_why_changed_sums_to_the_actual_risk_delta(trained: TrainedModel) -> None:
    model = CountingModel(trained.model)
    previous, current = _changed_pair(trained.model)
    changes = why_changed(model, previous, current)
    assert model.calls == 1
    p_prev, p_cur = trained.model.predict_win(np.vstack([previous, current]))
    actual = risk_score(p_cur) - risk_score(p_prev)
    assert actual > 0, "pushes, silence and a lost champion make the deal riskier"
    assert sum(c.delta for c in changes) == actual
    changed_groups = {g for g, cols in FEATURE_GROUPS.items() if np.any(previous[list(cols)] != current[list(cols)])}
    assert {c.field for c in changes} <= changed_groups | {"other"}
    pushes = next(c for c in changes if c.field == "close_date_push_count")
    assert pushes.description.startswith("close date pushed 2nd time: +") or pushes.delta <= 0
    assert all(c.description.endswith(f"{c.delta:+d} risk") for c in changes)


def test_why_changed_single_change_matches_the_model(trained: TrainedModel) -> None:
    previous = trained.model.features(make_deal(), AS_OF)
    current = previous.copy()
    current[FEATURE_INDEX["champion_score"]] = 3
    p_prev, p_cur = trained.model.predict_win(np.vstack([previous, current]))
    expected = risk_score(p_cur) - risk_score(p_prev)
    changes = why_changed(trained.model, previous, current)
    assert sum(c.delta for c in changes) == expected
    if expected:
        assert [c.field for c in changes] == ["champion_score"]
        assert changes[0].description.startswith("champion confirmed")
    assert why_changed(trained.model, previous, previous) == []


def _factor(feature: str, impact: float) -> RiskFactor:
    return RiskFactor(feature=feature, label=feature, impact=impact, description=f"{feature} says {impact}")


def test_recommendations_are_sorted_by_priority() -> None:
    deal = make_deal(forecast_category=ForecastCategory.COMMIT, qualification={})
    factors = [
        _factor("prior_industry", -4.0),
        _factor("champion_score", -3.0),
        _factor("days_since_last_activity", -9.0),
    ]
    recommendations = recommend(factors, RiskCategory.CRITICAL, deal, today=AS_OF.date())
    priorities = [r.priority for r in recommendations]
    order = {"immediate": 0, "this_week": 1, "ongoing": 2}
    assert priorities == sorted(priorities, key=order.__getitem__)
    actions = [r.action for r in recommendations]
    assert any("executive sponsor" in a for a in actions)
    assert any("before keeping this in Commit" in a for a in actions)
    assert priorities[0] == "immediate"
    silence = next(r for r in recommendations if r.rationale == "days_since_last_activity says -9.0")
    assert silence.priority == "immediate"


def test_factor_rules_fire_only_when_the_factor_hurts() -> None:
    deal = make_deal()
    helping = recommend([_factor("champion_score", +5.0)], RiskCategory.MEDIUM, deal, today=AS_OF.date())
    hurting = recommend([_factor("champion_score", -5.0)], RiskCategory.MEDIUM, deal, today=AS_OF.date())
    assert not any("champion" in r.action for r in helping)
    assert any("champion" in r.action and r.priority == "this_week" for r in hurting)


def test_low_risk_gets_ongoing_advice_and_overdue_gets_immediate() -> None:
    low = recommend([], RiskCategory.LOW, make_deal(), today=AS_OF.date())
    assert [r.priority for r in low] == ["ongoing"]
    overdue = make_deal(expected_close_date=AS_OF.date() - timedelta(days=3))
    advice = recommend([], RiskCategory.MEDIUM, overdue, today=AS_OF.date())
    assert advice[0].priority == "immediate" and "close date" in advice[0].action


def test_scoring_batches_score_factors_and_advice(trained: TrainedModel) -> None:
    counting = CountingModel(trained.model)
    deals = [make_deal(), make_deal(deal_id="D-2", history=DealHistory(close_date_push_count=5))]
    results = score_deals(counting, [ScoreInput(deal, AS_OF, f"e{i}") for i, deal in enumerate(deals)], AS_OF)
    assert counting.calls == 2  # one prediction and one call for every factor variant, however many deals
    for result in results:
        assert result.data.risk_score == risk_score(result.data.win_probability)
        assert result.data.risk_category == risk_category(result.data.risk_score)
        assert len(result.data.factors) == 3 and result.data.recommendations


def test_known_probabilities_give_the_same_factors(trained: TrainedModel, sample_rows: np.ndarray) -> None:
    win = trained.model.predict_win(sample_rows)
    assert top_factors(trained.model, sample_rows, win) == top_factors(trained.model, sample_rows)
