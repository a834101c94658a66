"""The scorer's background watch: model promotions seen within seconds, drift exported as gauges."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from dealpulse_common import metrics
from dealpulse_scorer.drift import DriftMonitor
from dealpulse_scorer.rescore import Rescorer
from dealpulse_scorer.serving import ServingModels, ServingResolver

log = logging.getLogger(__name__)


class ModelWatcher:
    """Polls the registry's active pointers (cheap: cached reads, re-read only when a file changed) and offers a
    new set of serving models to the stream, which adopts it between batches; exports PSI per feature of each
    serving scope as ``dealpulse_feature_psi``."""

    def __init__(self, resolver: ServingResolver, serving: ServingModels, rescorer: Rescorer, drift: DriftMonitor,
                 *, poll_s: float, drift_export_s: float, drift_min_rows: int) -> None:
        self._resolver = resolver
        self._serving = serving  # the last set offered
        self._rescorer = rescorer
        self._drift = drift
        self._poll_s = poll_s
        self._drift_export_s = drift_export_s
        self._drift_min_rows = drift_min_rows
        self._exported: set[tuple[str, str]] = set()
        self._row_scopes: set[str] = set()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        next_export = 0.0
        while not self._stopping.is_set():
            await self.check()
            if time.monotonic() >= next_export:
                self.export_drift()
                next_export = time.monotonic() + self._drift_export_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._poll_s)

    async def check(self) -> None:
        try:
            resolved = await asyncio.to_thread(self._resolver.resolve, self._serving)
        except Exception:  # an unreadable pointer must not stop the watch: what serves keeps serving
            log.exception("could not read the model registry; retrying")
            return
        if resolved is not None:
            log.info("model pointers moved: %s -> %s", self._serving.versions(), resolved.versions())
            self._serving = resolved
            self._rescorer.offer(resolved)

    def export_drift(self) -> None:
        """Set the PSI gauges of every scope serving now with enough rows; drop series of scopes that stopped."""
        serving = {model.scope: model.version for model in self._serving.all_models()}
        exported: set[tuple[str, str]] = set()
        row_scopes: set[str] = set()
        for scope, (version, window) in self._drift.scopes().items():
            if serving.get(scope) != version:
                continue
            metrics.DRIFT_WINDOW_ROWS.labels(scope).set(window.rows)
            row_scopes.add(scope)
            if window.rows < self._drift_min_rows:
                continue
            for feature, value in window.psi().items():
                metrics.FEATURE_PSI.labels(scope, feature).set(value)
                exported.add((scope, feature))
        for scope, feature in self._exported - exported:
            metrics.FEATURE_PSI.remove(scope, feature)
        for scope in self._row_scopes - row_scopes:
            metrics.DRIFT_WINDOW_ROWS.remove(scope)
        self._exported, self._row_scopes = exported, row_scopes
