"""Metrics for probabilistic classifiers: discrimination (ROC-AUC, PR-AUC) and calibration (Brier, ECE), and the
segment-prior baseline every model is compared with on the same rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from dealpulse_common.events import RiskCategory
from dealpulse_scorer.drift import drift_baseline
from dealpulse_scorer.explain import risk_category, risk_score
from dealpulse_scorer.features import FEATURE_INDEX, N_FEATURES, SEGMENT_DIMENSIONS

CALIBRATION_BINS = 10
PRIOR_COLUMNS = [FEATURE_INDEX[f"prior_{dimension}"] for dimension in SEGMENT_DIMENSIONS]
BASELINE_METHOD = "mean of the deal's four segment win-rate priors (training split)"


def baseline_probabilities(features: np.ndarray) -> np.ndarray:
    """The segment-prior baseline: what the segments alone say, the mean of the deal's four prior columns."""
    rows = np.asarray(features, dtype=np.float32).reshape(-1, N_FEATURES)
    mean: np.ndarray = rows[:, PRIOR_COLUMNS].mean(axis=1)
    return mean


def _bin_index(probabilities: np.ndarray, bins: int) -> np.ndarray:
    index: np.ndarray = np.minimum((probabilities * bins).astype(int), bins - 1)
    return index


def expected_calibration_error(outcomes: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Σ over equal-width probability bins of (share of rows) × |observed win rate − mean predicted|."""
    index = _bin_index(probabilities, bins)
    error = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            error += mask.mean() * abs(outcomes[mask].mean() - probabilities[mask].mean())
    return float(error)


def reliability_table(
    outcomes: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS
) -> list[dict[str, float]]:
    index = _bin_index(probabilities, bins)
    table = []
    for b in range(bins):
        mask = index == b
        if mask.any():
            table.append(
                {
                    "bin_low": b / bins,
                    "bin_high": (b + 1) / bins,
                    "count": int(mask.sum()),
                    "mean_predicted": round(float(probabilities[mask].mean()), 4),
                    "observed_win_rate": round(float(outcomes[mask].mean()), 4),
                }
            )
    return table


def classification_metrics(outcomes: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    y = np.asarray(outcomes, dtype=int)
    p = np.clip(np.asarray(probabilities, dtype=float), 1e-7, 1 - 1e-7)
    return {
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "pr_auc": round(float(average_precision_score(y, p)), 4),
        "brier": round(float(brier_score_loss(y, p)), 4),
        "ece": round(expected_calibration_error(y, p), 4),
        "log_loss": round(float(log_loss(y, p, labels=[0, 1])), 4),
        "n": len(y),
        "win_rate": round(float(y.mean()), 4),
        "mean_predicted": round(float(p.mean()), 4),
    }


def _risk_shares(probabilities: np.ndarray, features: np.ndarray) -> dict[str, Any]:
    counts = Counter(risk_category(risk_score(float(p))).value for p in probabilities)
    total = max(1, len(probabilities))
    return {"count": len(probabilities),
            "shares": {category.value: round(counts[category.value] / total, 4) for category in RiskCategory},
            "drift_baseline": drift_baseline(features) if len(features) else {}}


def risk_distribution(probabilities: np.ndarray, features: np.ndarray, tenants: Sequence[str]) -> dict[str, Any]:
    """Deals' shares by risk category (the scorer's own rule) and their feature distribution
    (``drift.drift_baseline``), overall and per tenant: for the open deals of a training set, what a tenant's live
    open deals, drawn like them, should show."""
    by_tenant = np.array(tenants)
    return {**_risk_shares(probabilities, features),
            "by_tenant": {tenant: _risk_shares(probabilities[by_tenant == tenant], features[by_tenant == tenant])
                          for tenant in sorted(set(tenants))}}
