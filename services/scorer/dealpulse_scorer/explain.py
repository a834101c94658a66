"""Risk score, risk category, factors and "why it changed" — all computed from the model itself.

Serving-safe: numpy + the loaded ONNX model only.

Attribution is occlusion against a reference row (the training split's per-feature median, shipped in the
artifact): for each deal and each feature group, that group is set to its reference value and the model is
asked again. ``impact = p(deal) − p(deal with the group at reference)`` in win-probability points. Every
deal × group variant goes to the model in ONE batched call, so explaining costs one inference per batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from dealpulse_common.deal import CanonicalDeal
from dealpulse_common.events import RiskCategory, RiskFactor, ScoreChange
from dealpulse_scorer.features import FEATURE_GROUPS, GROUP_LABELS, N_FEATURES, unknown_history
from dealpulse_scorer.recommendations import recommend
from dealpulse_scorer.wording import describe_change, describe_factor

__all__ = [
    "ScoringModel",
    "attribute",
    "recommend",
    "risk_category",
    "risk_score",
    "top_factors",
    "why_changed",
]

GROUP_NAMES: tuple[str, ...] = tuple(FEATURE_GROUPS)
TOP_FACTORS = 3
MIN_FACTOR_IMPACT = 0.05  # points; below this a group did not move the prediction at all
MIN_REMAINDER_POINTS = 2.0  # an interaction remainder smaller than this is rounding, not a reason
REMAINDER_FIELD = "other"


class ScoringModel(Protocol):
    """What explanations need from a model (``LoadedModel`` satisfies it)."""

    reference: np.ndarray

    def predict_win(self, features: np.ndarray) -> np.ndarray: ...


# ---------------------------------------------------------------- the domain rule (one implementation)


def risk_score(win_probability: float) -> int:
    """risk = round(100 × (1 − p)), halves rounded up so every service and language agrees."""
    p = min(max(float(win_probability), 0.0), 1.0)
    return math.floor(100.0 * (1.0 - p) + 0.5)


def risk_category(score: int) -> RiskCategory:
    """low 0–25, medium 26–50, high 51–75, critical 76–100."""
    if not 0 <= score <= 100:
        raise ValueError(f"risk score {score} is outside 0–100")
    if score <= 25:
        return RiskCategory.LOW
    if score <= 50:
        return RiskCategory.MEDIUM
    if score <= 75:
        return RiskCategory.HIGH
    return RiskCategory.CRITICAL


# ---------------------------------------------------------------- attributions


def _as_rows(features: np.ndarray) -> np.ndarray:
    rows = np.asarray(features, dtype=np.float32)
    rows = rows.reshape(1, -1) if rows.ndim == 1 else rows
    if rows.shape[1] != N_FEATURES:
        raise ValueError(f"expected {N_FEATURES} features per row, got {rows.shape[1]}")
    return rows


def attribute(
    model: ScoringModel, features: np.ndarray, win_probabilities: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(win probability per deal (n,), impact per deal and feature group (n, groups) in points).

    Column j of the impacts is ``GROUP_NAMES[j]``; a negative impact means the deal's value of that group
    lowers its win chance compared with the reference value. Pass ``win_probabilities`` when the caller
    already predicted these rows (same model): the batch then holds only the variants."""
    rows = _as_rows(features)
    n, n_groups = rows.shape[0], len(GROUP_NAMES)
    variants = np.repeat(rows[:, None, :], n_groups, axis=1)
    for j, group in enumerate(GROUP_NAMES):
        columns = list(FEATURE_GROUPS[group])
        variants[:, j, columns] = model.reference[columns]
    batch = variants.reshape(-1, N_FEATURES)
    if win_probabilities is None:
        predictions = model.predict_win(np.vstack([rows, batch]))
        probabilities, varied = predictions[:n], predictions[n:].reshape(n, n_groups)
    else:
        probabilities = np.asarray(win_probabilities, dtype=np.float64).reshape(n)
        varied = model.predict_win(batch).reshape(n, n_groups)
    impacts = (probabilities[:, None] - varied) * 100.0
    return probabilities, impacts


def _factors_for(x: np.ndarray, impacts: np.ndarray, deal: CanonicalDeal | None, top_n: int) -> list[RiskFactor]:
    order = np.argsort(-np.abs(impacts), kind="stable")
    unknown = unknown_history(x)  # history DealPulse does not have is no reason, for or against the deal
    factors = []
    for j in (j for j in order if GROUP_NAMES[j] not in unknown):
        if len(factors) == top_n:
            break
        impact = float(impacts[j])
        if abs(impact) < MIN_FACTOR_IMPACT:
            break
        group = GROUP_NAMES[j]
        factors.append(
            RiskFactor(
                feature=group,
                label=GROUP_LABELS[group],
                impact=round(impact, 1),
                description=describe_factor(group, x, impact, deal),
            )
        )
    return factors


def top_factors(
    model: ScoringModel,
    features: np.ndarray,
    win_probabilities: np.ndarray | None = None,
    deals: Sequence[CanonicalDeal | None] | None = None,
    top_n: int = TOP_FACTORS,
) -> list[list[RiskFactor]]:
    """The ``top_n`` factors by absolute impact for each row of ``features`` (one model call in all).
    Pass the ``deals`` the rows came from so sentences can name segments and currency."""
    rows = _as_rows(features)
    _, impacts = attribute(model, rows, win_probabilities)
    deal_list = list(deals) if deals is not None else [None] * len(rows)
    return [_factors_for(rows[i], impacts[i], deal_list[i], top_n) for i in range(len(rows))]


# ---------------------------------------------------------------- why the score changed


def _apportion(raw: Sequence[float], total: int) -> list[int]:
    """Integers close to ``raw`` that sum exactly to ``total`` (largest-remainder rounding), so the reasons a
    rep reads always add up to the change they see."""
    floors = [math.floor(value) for value in raw]
    shortfall = total - sum(floors)
    by_fraction = sorted(range(len(raw)), key=lambda i: raw[i] - floors[i], reverse=shortfall > 0)
    result = list(floors)
    step = 1 if shortfall > 0 else -1
    for k in range(abs(shortfall)):
        result[by_fraction[k % len(raw)]] += step
    return result


def why_changed(
    model: ScoringModel,
    previous_features: np.ndarray,
    current_features: np.ndarray,
    deal: CanonicalDeal | None = None,
) -> list[ScoreChange]:
    """Risk points attributed to each feature group that changed between two feature vectors of one deal.

    Each changed group is reverted to its previous value (all variants in one model call); its delta is the
    risk it added. Whatever the per-group deltas do not explain (interactions between simultaneous changes)
    becomes an ``other`` line when it is at least ``MIN_REMAINDER_POINTS``. The deltas are rounded so that
    they sum exactly to ``risk_score(current) − risk_score(previous)``; zero lines are dropped.

    Both vectors must come from the same model's ``features`` (same priors), e.g. the previous snapshot
    rebuilt with the current model at its own ``as_of``."""
    previous = _as_rows(previous_features)[0]
    current = _as_rows(current_features)[0]
    changed = [g for g in GROUP_NAMES if np.any(previous[list(FEATURE_GROUPS[g])] != current[list(FEATURE_GROUPS[g])])]
    if not changed:
        return []
    variants = np.repeat(current[None, :], len(changed) + 2, axis=0)
    variants[1] = previous
    for k, group in enumerate(changed):
        columns = list(FEATURE_GROUPS[group])
        variants[k + 2, columns] = previous[columns]
    probabilities = model.predict_win(variants)
    risk = 100.0 * (1.0 - probabilities)
    total = risk_score(float(probabilities[0])) - risk_score(float(probabilities[1]))
    names = list(changed)
    raw = [float(risk[0] - risk[k + 2]) for k in range(len(changed))]
    remainder = float(risk[0] - risk[1]) - sum(raw)
    if abs(remainder) >= MIN_REMAINDER_POINTS:
        names.append(REMAINDER_FIELD)
        raw.append(remainder)
    deltas = _apportion(raw, total)
    changes = []
    for name, delta in zip(names, deltas, strict=True):
        if delta == 0:
            continue
        if name == REMAINDER_FIELD:
            label, phrase = "Combined effect", "these changes together"
        else:
            label, phrase = GROUP_LABELS[name], describe_change(name, previous, current, deal)
        changes.append(ScoreChange(field=name, label=label, delta=delta, description=f"{phrase}: {delta:+d} risk"))
    return sorted(changes, key=lambda change: -abs(change.delta))
