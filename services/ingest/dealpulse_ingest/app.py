"""Ingest service: app factory and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dealpulse_common.runtime import ServiceRuntime, runtime_checks
from dealpulse_common.service import install_problem_handlers, probe_router
from dealpulse_ingest.handlers import Ingestor
from dealpulse_ingest.routes import router
from dealpulse_ingest.secrets import WebhookSecrets
from dealpulse_ingest.settings import IngestSettings


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with ServiceRuntime(settings) as runtime:
            app.state.runtime = runtime
            app.state.settings = settings
            app.state.pool = runtime.pool
            app.state.publisher = runtime.publisher
            app.state.secrets = WebhookSecrets(runtime.pool, settings.secret_cache_ttl_s)
            app.state.ingestor = Ingestor(runtime.pool, runtime.publisher)
            yield

    app = FastAPI(title="DealPulse ingest", version="1.0.0", lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(router)
    app.include_router(probe_router(runtime_checks(app.state)))
    return app
