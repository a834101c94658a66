"""Population stability (PSI) of live features against the training distribution shipped in the artifact.

Serving-safe. The artifact's ``features.json`` carries, per feature, the training split's decile cut points
and the share of training rows in each bin; live rows are binned the same way.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any, Protocol

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
    window = DriftWindow(baseline, max_rows=max(1, len(live_rows)), chunks=1)
    window.add(live_rows)
    return window.psi()


def _psi(expected_fractions: np.ndarray, counts: np.ndarray) -> float:
    expected = np.maximum(expected_fractions, PSI_FLOOR)
    actual = np.maximum(counts / max(1, int(counts.sum())), PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


class DriftWindow:
    """The most recent ``max_rows`` (or slightly more) live feature vectors of one population, kept only as
    counts per baseline bin: memory is a few KB whatever the traffic. The window rolls by chunks: once it
    holds more than ``chunks`` full chunks, the oldest one is dropped."""

    def __init__(self, baseline: dict[str, Any], max_rows: int = 5000, chunks: int = 10) -> None:
        self._features = [(j, name) for j, name in enumerate(FEATURE_NAMES) if name in baseline]
        self._edges = [np.asarray(baseline[name]["edges"], dtype=np.float64) for _, name in self._features]
        self._expected = [np.asarray(baseline[name]["fractions"], dtype=np.float64) for _, name in self._features]
        self._chunk_rows = max(1, max_rows // max(1, chunks))
        self._max_chunks = max(1, chunks)
        self._chunks: deque[tuple[int, np.ndarray]] = deque()  # (rows, counts: features x max bins)
        self._width = max((len(e) for e in self._expected), default=1)

    @property
    def rows(self) -> int:
        return sum(n for n, _ in self._chunks)

    def add(self, live_rows: np.ndarray) -> None:
        rows = np.asarray(live_rows, dtype=np.float64).reshape(-1, len(FEATURE_NAMES))
        start = 0
        while start < rows.shape[0]:
            if not self._chunks or self._chunks[-1][0] >= self._chunk_rows:
                self._chunks.append((0, np.zeros((len(self._features), self._width), dtype=np.int64)))
                if len(self._chunks) > self._max_chunks + 1:  # the newest chunk is the one still filling
                    self._chunks.popleft()
            filled, counts = self._chunks[-1]
            part = rows[start:start + self._chunk_rows - filled]
            for k, (j, _) in enumerate(self._features):
                bins = np.searchsorted(self._edges[k], part[:, j], side="right")
                counts[k] += np.bincount(bins, minlength=self._width)[: self._width]
            self._chunks[-1] = (filled + part.shape[0], counts)
            start += part.shape[0]

    def psi(self) -> dict[str, float]:
        """PSI per feature over the window; empty while the window is."""
        if not self._chunks or self.rows == 0:
            return {}
        total = np.sum([counts for _, counts in self._chunks], axis=0)
        return {name: _psi(self._expected[k], total[k, : len(self._expected[k])])
                for k, (_, name) in enumerate(self._features)}


class DriftSource(Protocol):
    """What drift tracking needs from a model (``LoadedModel`` satisfies it)."""

    @property
    def scope(self) -> str: ...

    version: str
    drift_baseline: dict[str, Any]


class DriftMonitor:
    """Live feature distributions per model scope (global, or a tenant's own model) and per tenant, each held
    against the training baseline of the model version that scored them; a new version starts a new window.

    Derived data, kept in memory only on purpose: it is rebuilt from live traffic within minutes of a restart,
    and its history is the Prometheus time series of ``dealpulse_feature_psi``, so nothing here needs to be
    persisted. Memory is bounded: a window is a few KB and at most ``max_tenants`` tenant windows are kept
    (least recently scored dropped first)."""

    def __init__(self, max_rows: int = 5000, max_tenants: int = 1000) -> None:
        self._max_rows = max_rows
        self._max_tenants = max_tenants
        self._scopes: dict[str, tuple[str, DriftWindow]] = {}
        self._tenants: OrderedDict[str, tuple[str, DriftWindow]] = OrderedDict()

    def observe(self, model: DriftSource, tenant_id: str, rows: np.ndarray) -> None:
        if len(rows) == 0 or not model.drift_baseline:
            return
        self._window(self._scopes, model.scope, model).add(rows)
        if model.scope != f"tenant:{tenant_id}":  # a tenant's own model: its scope window is the tenant's
            self._window(self._tenants, tenant_id, model).add(rows)
            self._tenants.move_to_end(tenant_id)
            while len(self._tenants) > self._max_tenants:
                self._tenants.popitem(last=False)

    def scopes(self) -> dict[str, tuple[str, DriftWindow]]:
        """Model scope -> (version, window)."""
        return dict(self._scopes)

    def for_tenant(self, tenant_id: str, model: DriftSource) -> DriftWindow | None:
        """The window of ``tenant_id``'s traffic scored by ``model`` (the model serving it now), if any."""
        found = self._scopes.get(model.scope) if model.scope == f"tenant:{tenant_id}" else self._tenants.get(tenant_id)
        return found[1] if found is not None and found[0] == model.version else None

    def _window(self, windows: dict[str, tuple[str, DriftWindow]], key: str, model: DriftSource) -> DriftWindow:
        found = windows.get(key)
        if found is None or found[0] != model.version:
            found = (model.version, DriftWindow(model.drift_baseline, self._max_rows))
            windows[key] = found
        return found[1]
