"""Scorer service: app factory and lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dealpulse_common.runtime import ServiceRuntime, runtime_checks
from dealpulse_common.service import BackgroundWork, install_problem_handlers, probe_router
from dealpulse_common.topics import DEAL_CHANGED
from dealpulse_scorer.consumer import ScoringConsumer
from dealpulse_scorer.drift import DriftMonitor
from dealpulse_scorer.model import ModelRegistry, NoActiveModel
from dealpulse_scorer.rescore import Rescorer
from dealpulse_scorer.routes import router
from dealpulse_scorer.scoring import ScoringCore
from dealpulse_scorer.serving import ServingResolver, export_model_info
from dealpulse_scorer.settings import ScorerSettings
from dealpulse_scorer.watch import ModelWatcher


def create_app(settings: ScorerSettings | None = None) -> FastAPI:
    settings = settings or ScorerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = ModelRegistry(settings.model_registry)
        resolver = ServingResolver(registry)
        models = await asyncio.to_thread(resolver.resolve)  # refuse to start without a usable model
        if models is None:
            raise NoActiveModel(f"no active global model in {settings.model_registry}")
        export_model_info(None, models)
        drift = DriftMonitor(max_rows=settings.drift_window_rows)
        app.state.registry, app.state.drift, app.state.settings = registry, drift, settings
        async with ServiceRuntime(settings, consumes=[DEAL_CHANGED]) as runtime:
            scoring = ScoringCore(runtime.pool, models, drift)
            consumer = ScoringConsumer(runtime.pool, scoring)
            rescorer = Rescorer(runtime.pool, runtime.publisher, scoring, settings.rescore_chunk)
            app.state.runtime, app.state.scoring = runtime, scoring
            runtime.process(consumer.handle, settings.max_batch, between_batches=rescorer.between_batches)
            watcher = ModelWatcher(resolver, models, rescorer, drift, poll_s=settings.model_poll_interval_s,
                                   drift_export_s=settings.drift_export_interval_s,
                                   drift_min_rows=settings.drift_min_rows)
            work = BackgroundWork()
            work.start("scorer-model-watch", watcher.run())
            try:
                yield
            finally:
                watcher.stop()
                await work.wait()

    app = FastAPI(title="DealPulse scorer", version="1.0.0", lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(router)

    async def model_ready() -> bool:
        return app.state.registry.active_version() is not None

    app.include_router(probe_router({**runtime_checks(app.state), "model": model_ready}))
    return app
