"""The scorer's working life: wait for an active model, then run the stream, the re-scorer and the model watch.

A fresh cluster has no model until the bootstrap Job promoted one. Rather than exit (and crash-loop), the scorer
answers ``/healthz`` and fails ``/readyz`` while it waits, polling the registry; it joins its consumer group only
once a model serves, so no partition is held by a replica that cannot score it.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.datastructures import State

from dealpulse_common.runtime import ServiceRuntime
from dealpulse_common.topics import DEAL_CHANGED
from dealpulse_scorer.consumer import ScoringConsumer
from dealpulse_scorer.drift import DriftMonitor
from dealpulse_scorer.model import ModelRegistry, NoActiveModel
from dealpulse_scorer.rescore import Rescorer
from dealpulse_scorer.scoring import ScoringCore
from dealpulse_scorer.serving import ServingModels, ServingResolver, export_model_info
from dealpulse_scorer.settings import ScorerSettings
from dealpulse_scorer.watch import ModelWatcher

log = logging.getLogger(__name__)


async def first_model(resolver: ServingResolver, poll_s: float, stopping: asyncio.Event) -> ServingModels | None:
    """The serving models once a usable global model is active (polling every ``poll_s``), or None if told to stop
    first."""
    waiting_logged = False
    while not stopping.is_set():
        try:
            return await asyncio.to_thread(resolver.resolve)
        except NoActiveModel as missing:
            if not waiting_logged:
                log.warning("%s: waiting for one (the bootstrap Job, or dealpulse promote); not ready until then",
                            missing)
                waiting_logged = True
        try:
            await asyncio.wait_for(stopping.wait(), poll_s)
        except TimeoutError:
            continue
    return None


class ScorerLife:
    """Runs in the background of the app; sets ``state.runtime`` and ``state.scoring`` once it serves."""

    def __init__(self, state: State, settings: ScorerSettings, registry: ModelRegistry, drift: DriftMonitor) -> None:
        self._state = state
        self._settings = settings
        self._registry = registry
        self._drift = drift
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        settings = self._settings
        resolver = ServingResolver(self._registry)
        models = await first_model(resolver, settings.model_poll_interval_s, self._stopping)
        if models is None:
            return
        log.info("serving model %s", models.versions())
        export_model_info(None, models)
        async with ServiceRuntime(settings, consumes=[DEAL_CHANGED]) as runtime:
            scoring = ScoringCore(runtime.pool, models, self._drift)
            rescorer = Rescorer(runtime.pool, runtime.publisher, scoring, settings.rescore_chunk)
            consumer = ScoringConsumer(runtime.pool, scoring, settings.transient_retry_s)
            runtime.process(consumer.handle, settings.max_batch, between_batches=rescorer.between_batches)
            self._state.runtime, self._state.scoring = runtime, scoring
            watcher = ModelWatcher(resolver, models, rescorer, self._drift, poll_s=settings.model_poll_interval_s,
                                   drift_export_s=settings.drift_export_interval_s,
                                   drift_min_rows=settings.drift_min_rows)
            watching = asyncio.create_task(watcher.run(), name="scorer-model-watch")
            stopped = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({watching, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            watcher.stop()
            await watching  # re-raises whatever ended the watch early, and the service then stops
