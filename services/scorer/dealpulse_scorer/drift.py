"""Population stability (PSI) of live features against the training distribution shipped in the artifact.

Serving-safe. The artifact's ``features.json`` carries, per feature, the training split's decile cut points
and the share of training rows in each bin; live rows are binned the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dealpulse_scorer.features import FEATURE_NAMES

PSI_FLOOR = 1e-4  # an empty bin would make PSI infinite; treat it as nearly empty instead
DRIFT_QUANTILES = tuple(q / 10 for q in range(1, 10))


def drift_baseline(training_rows: np.ndarray) -> dict[str, dict[str, list[float]]]:
    """Decile cut points per feature and the share of training rows in each resulting bin."""
    baseline = {}
    for j, name in enumerate(FEATURE_NAMES):
        column = training_rows[:, j].astype(np.float64)
        edges = np.unique(np.quantile(column, DRIFT_QUANTILES))
        counts = np.bincount(np.searchsorted(edges, column, side="right"), minlength=len(edges) + 1)
        baseline[name] = {
            "edges": [float(e) for e in edges],
            "fractions": [float(c) / len(column) for c in counts],
        }
    return baseline


def population_stability(baseline: dict[str, Any], live_rows: np.ndarray) -> dict[str, float]:
    """PSI per feature: Σ (live − train) × ln(live / train) over the baseline's bins. Rule of thumb:
    < 0.1 stable, 0.1–0.25 moderate shift, > 0.25 major shift."""
    rows = np.asarray(live_rows, dtype=np.float64).reshape(-1, len(FEATURE_NAMES))
    result: dict[str, float] = {}
    if rows.shape[0] == 0:
        return result
    for j, name in enumerate(FEATURE_NAMES):
        spec = baseline.get(name)
        if spec is None:
            continue
        edges = np.asarray(spec["edges"])
        expected = np.maximum(np.asarray(spec["fractions"]), PSI_FLOOR)
        counts = np.bincount(np.searchsorted(edges, rows[:, j], side="right"), minlength=len(expected))
        actual = np.maximum(counts / rows.shape[0], PSI_FLOOR)
        result[name] = float(np.sum((actual - expected) * np.log(actual / expected)))
    return result
