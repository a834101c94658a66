"""Scorer service: app factory and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dealpulse_common.runtime import runtime_checks
from dealpulse_common.service import BackgroundWork, install_problem_handlers, probe_router
from dealpulse_scorer.drift import DriftMonitor
from dealpulse_scorer.lifecycle import ScorerLife
from dealpulse_scorer.model import ModelRegistry
from dealpulse_scorer.routes import router
from dealpulse_scorer.settings import ScorerSettings

# Stopping finishes and commits the batch in hand, then closes the consumer, producer and pool (within the pod's
# 30 s termination grace).
STOP_GRACE_S = 25.0


def create_app(settings: ScorerSettings | None = None) -> FastAPI:
    settings = settings or ScorerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = ModelRegistry(settings.model_registry)
        drift = DriftMonitor(max_rows=settings.drift_window_rows)
        app.state.registry, app.state.drift, app.state.settings = registry, drift, settings
        # Serving starts in the background once a model is active, so the process answers its probes meanwhile.
        life = ScorerLife(app.state, settings, registry, drift)
        work = BackgroundWork()
        work.start("scorer", life.run())
        try:
            yield
        finally:
            life.stop()
            await work.wait(STOP_GRACE_S)

    app = FastAPI(title="DealPulse scorer", version="1.0.0", lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(router)

    async def model_ready() -> bool:
        return getattr(app.state, "scoring", None) is not None

    app.include_router(probe_router({**runtime_checks(app.state), "model": model_ready}))
    return app
