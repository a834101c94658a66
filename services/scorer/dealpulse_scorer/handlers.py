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
    ScoreChange,
    ScoreDelta,
)
from dealpulse_scorer import explain
from dealpulse_scorer.features import N_FEATURES
from dealpulse_scorer.model import LoadedModel
from dealpulse_scorer.similar import similar_won_deals

MODEL_CHANGE_FIELD = "model_version"


@dataclass(frozen=True)
class Previous:
    """The deal's previous score. ``deal`` and ``as_of`` (its snapshot and the time it was scored as of) are
    needed only when that score came from another model version (``model_version``)."""

    risk_score: int
    risk_category: str
    features: Sequence[float]
    scored_at: datetime
    model_version: str | None = None
    deal: CanonicalDeal | None = None
    as_of: datetime | None = None

    def other_model(self, version: str) -> bool:
        return self.model_version is not None and self.model_version != version


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


def score_deals(model: LoadedModel, inputs: Sequence[ScoreInput], scored_at: datetime,
                won: Sequence[CanonicalDeal] = ()) -> list[Scored]:
    """Risk, category, top factors, recommendations, why-it-changed and similar won deals for each deal, in order.

    ``won`` is the tenant's library of won deals the similar ones are picked from."""
    if not inputs:
        return []
    matrix = model.features_matrix([i.deal for i in inputs], [i.as_of for i in inputs])
    win = model.predict_win(matrix)
    factors = explain.top_factors(model, matrix, win, deals=[i.deal for i in inputs])
    rebuilt = _rebuild_previous(model, inputs)
    results = []
    for row, item in enumerate(inputs):
        score = explain.risk_score(float(win[row]))
        category = explain.risk_category(score)
        since = _since_previous(model, item, matrix[row], score, rebuilt.get(row))
        data = DealScoredData(
            deal=item.deal, risk_score=score, risk_category=category, win_probability=round(float(win[row]), 4),
            factors=factors[row],
            recommendations=explain.recommend(factors[row], category, item.deal, today=item.as_of.date()),
            since_previous=since,
            previous_category=RiskCategory(item.previous.risk_category) if item.previous else None,
            similar_won_deals=similar_won_deals(item.deal, won),
            model_version=model.version, scored_at=scored_at, source_event_id=item.source_event_id,
        )
        results.append(Scored(data, [float(v) for v in matrix[row]]))
    return results


def _rebuild_previous(model: LoadedModel, inputs: Sequence[ScoreInput]) -> dict[int, np.ndarray]:
    """The previous snapshot's features rebuilt with *this* model, for every previous score made by another
    model version (or stored without a usable vector). Another version has other segment priors, so its stored
    vector is not comparable: ``why_changed`` would report prior columns as changes the deal never made."""
    wanted: list[tuple[int, CanonicalDeal, datetime]] = []
    for i, item in enumerate(inputs):
        previous = item.previous
        if previous is None or previous.deal is None or previous.as_of is None:
            continue
        if previous.other_model(model.version) or len(previous.features) != N_FEATURES:
            wanted.append((i, previous.deal, previous.as_of))
    if not wanted:
        return {}
    matrix = model.features_matrix([deal for _, deal, _ in wanted], [as_of for _, _, as_of in wanted])
    return {i: matrix[k] for k, (i, _, _) in enumerate(wanted)}


def _since_previous(
    model: LoadedModel, item: ScoreInput, current: np.ndarray, score: int, rebuilt: np.ndarray | None
) -> ScoreDelta | None:
    """Risk delta since the previous score and the changes that explain it. Feature changes are always measured
    with this model (like with like); when the previous score came from another version, one more line says
    what the model update itself moved, so the lines still sum to the delta."""
    previous = item.previous
    if previous is None:
        return None
    delta = score - previous.risk_score
    if rebuilt is not None:
        before: np.ndarray | None = rebuilt
    elif not previous.other_model(model.version) and len(previous.features) == N_FEATURES:
        before = np.asarray(previous.features, dtype=np.float32)
    else:
        before = None  # no snapshot to rebuild from: the whole delta is the model's
    changes = explain.why_changed(model, before, current, deal=item.deal) if before is not None else []
    if previous.other_model(model.version):
        moved = delta - sum(change.delta for change in changes)
        changes = [ScoreChange(field=MODEL_CHANGE_FIELD, label="Model update", delta=moved,
                               description=f"model updated to {model.version}: {moved:+d} risk"), *changes]
    return ScoreDelta(previous_risk_score=previous.risk_score, previous_scored_at=previous.scored_at, delta=delta,
                      changes=changes)
