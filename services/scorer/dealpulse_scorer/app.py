"""Scorer service: app factory and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dealpulse_common import metrics
from dealpulse_common.runtime import ServiceRuntime, runtime_checks
from dealpulse_common.service import install_problem_handlers, probe_router
from dealpulse_common.topics import DEAL_CHANGED
from dealpulse_scorer.consumer import ScoringConsumer
from dealpulse_scorer.model import ModelRegistry
from dealpulse_scorer.routes import router
from dealpulse_scorer.settings import ScorerSettings


def create_app(settings: ScorerSettings | None = None) -> FastAPI:
    settings = settings or ScorerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = ModelRegistry(settings.model_registry)
        model = registry.load_active()  # refuse to start without a usable model
        metrics.MODEL_INFO.labels("global", model.version).set(1)
        app.state.registry = registry
        async with ServiceRuntime(settings, consumes=[DEAL_CHANGED]) as runtime:
            app.state.runtime = runtime
            runtime.process(ScoringConsumer(runtime.pool, registry).handle, settings.max_batch)
            yield

    app = FastAPI(title="DealPulse scorer", version="1.0.0", lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(router)

    async def model_ready() -> bool:
        return app.state.registry.active_version() is not None

    app.include_router(probe_router({**runtime_checks(app.state), "model": model_ready}))
    return app
