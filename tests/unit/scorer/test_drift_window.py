"""The rolling drift window behind the PSI gauges: same answer as the batch PSI, bounded, per scope and tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from dealpulse_scorer.drift import DriftMonitor, DriftWindow, drift_baseline, population_stability
from dealpulse_scorer.features import FEATURE_INDEX, N_FEATURES

rng = np.random.default_rng(3)
BASELINE = drift_baseline(rng.normal(size=(5000, N_FEATURES)).astype(np.float32))


@dataclass
class FakeModel:
    scope: str
    version: str
    drift_baseline: dict[str, Any] = field(default_factory=lambda: BASELINE)


def test_window_agrees_with_batch_psi_while_everything_fits() -> None:
    live = rng.normal(size=(800, N_FEATURES))
    live[:, FEATURE_INDEX["log_amount"]] += 1.0
    window = DriftWindow(BASELINE, max_rows=1000, chunks=10)
    for start in range(0, 800, 37):  # arbitrary batch sizes straddle chunk boundaries
        window.add(live[start:start + 37])
    assert window.rows == 800
    assert window.psi() == pytest.approx(population_stability(BASELINE, live))
    assert window.psi()["log_amount"] > 0.25


def test_window_forgets_old_traffic_and_stays_bounded() -> None:
    window = DriftWindow(BASELINE, max_rows=1000, chunks=10)
    shifted = rng.normal(size=(3000, N_FEATURES))
    shifted[:, FEATURE_INDEX["log_amount"]] += 2.0
    window.add(shifted)
    assert window.psi()["log_amount"] > 0.25
    window.add(rng.normal(size=(3000, N_FEATURES)))  # back to normal: the shifted rows roll out
    assert 1000 <= window.rows <= 1100  # at most one chunk over the window
    assert window.psi()["log_amount"] < 0.1
    assert len(window._chunks) <= 11


def test_empty_window_reports_nothing() -> None:
    assert DriftWindow(BASELINE).psi() == {}
    assert DriftWindow(BASELINE).rows == 0


def test_monitor_keeps_scope_and_tenant_windows_and_restarts_on_a_new_version() -> None:
    monitor = DriftMonitor(max_rows=500, max_tenants=2)
    v1, v2 = FakeModel("global", "v1"), FakeModel("global", "v2")
    monitor.observe(v1, "acme", rng.normal(size=(40, N_FEATURES)))
    monitor.observe(v1, "globex", rng.normal(size=(10, N_FEATURES)))
    assert monitor.scopes()["global"][1].rows == 50
    assert monitor.for_tenant("acme", v1).rows == 40  # type: ignore[union-attr]
    assert monitor.for_tenant("acme", v2) is None, "a window is only valid for the version that scored it"
    monitor.observe(v2, "acme", rng.normal(size=(5, N_FEATURES)))
    assert monitor.scopes()["global"] == ("v2", monitor.scopes()["global"][1])
    assert monitor.scopes()["global"][1].rows == 5
    own = FakeModel("tenant:initech", "v9")
    monitor.observe(own, "initech", rng.normal(size=(7, N_FEATURES)))
    assert monitor.for_tenant("initech", own).rows == 7  # type: ignore[union-attr]
    monitor.observe(v2, "hooli", rng.normal(size=(3, N_FEATURES)))  # a third tenant window: the oldest goes
    assert monitor.for_tenant("globex", v1) is None
