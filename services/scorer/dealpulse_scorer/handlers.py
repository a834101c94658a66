"""Scoring a batch of deals with one model: pure computation, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from dealpulse_common.deal import CanonicalDeal
from dealpulse_common.events import (
    DealScoredData,
    RiskCategory,
    ScoreDelta,
)
from dealpulse_scorer import explain
from dealpulse_scorer.model import LoadedModel


@dataclass(frozen=True)
class Previous:
    risk_score: int
    risk_category: str
    features: Sequence[float]
    scored_at: datetime


@dataclass(frozen=True)
class ScoreInput:
    deal: CanonicalDeal
    as_of: datetime
    source_event_id: str
    previous: Previous | None = None


@dataclass(frozen=True)
class Scored:
    data: DealScoredData
    features: list[float]


def score_deals(model: LoadedModel, inputs: Sequence[ScoreInput], scored_at: datetime) -> list[Scored]:
    """Risk, category, top factors, recommendations and why-it-changed for each deal, in input order."""
    if not inputs:
        return []
    matrix = model.features_matrix([i.deal for i in inputs], [i.as_of for i in inputs])
    win = model.predict_win(matrix)
    factors = explain.top_factors(model, matrix, win, deals=[i.deal for i in inputs])
    results = []
    for row, item in enumerate(inputs):
        score = explain.risk_score(float(win[row]))
        category = explain.risk_category(score)
        since = _since_previous(model, item, matrix[row], score)
        data = DealScoredData(
            deal=item.deal, risk_score=score, risk_category=category, win_probability=round(float(win[row]), 4),
            factors=factors[row],
            recommendations=explain.recommend(factors[row], category, item.deal, today=item.as_of.date()),
            since_previous=since,
            previous_category=RiskCategory(item.previous.risk_category) if item.previous else None,
            model_version=model.version, scored_at=scored_at, source_event_id=item.source_event_id,
        )
        results.append(Scored(data, [float(v) for v in matrix[row]]))
    return results


def _since_previous(model: LoadedModel, item: ScoreInput, current: np.ndarray, score: int) -> ScoreDelta | None:
    previous = item.previous
    if previous is None:
        return None
    before = np.asarray(previous.features, dtype=np.float32)
    return ScoreDelta(
        previous_risk_score=previous.risk_score, previous_scored_at=previous.scored_at,
        delta=score - previous.risk_score, changes=explain.why_changed(model, before, current, deal=item.deal),
    )
