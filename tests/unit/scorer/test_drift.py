"""Population stability of live features against the training baseline in the artifact."""

from __future__ import annotations

import numpy as np

from dealpulse_scorer.drift import drift_baseline, population_stability
from dealpulse_scorer.features import FEATURE_INDEX, N_FEATURES


def test_psi_is_small_for_the_same_population_and_large_after_a_shift() -> None:
    rng = np.random.default_rng(0)
    training = rng.normal(size=(5000, N_FEATURES)).astype(np.float32)
    baseline = drift_baseline(training)
    same = population_stability(baseline, rng.normal(size=(3000, N_FEATURES)))
    assert max(same.values()) < 0.05
    shifted = rng.normal(size=(3000, N_FEATURES))
    shifted[:, FEATURE_INDEX["log_amount"]] += 1.5
    psi = population_stability(baseline, shifted)
    assert psi["log_amount"] > 0.25
    assert population_stability(baseline, np.empty((0, N_FEATURES))) == {}
