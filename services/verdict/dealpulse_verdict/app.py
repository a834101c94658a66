"""Verdict service: app factory and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dealpulse_common.runtime import ServiceRuntime, runtime_checks
from dealpulse_common.service import install_problem_handlers, probe_router
from dealpulse_verdict.consumer import CONSUMED_TOPICS, VerdictConsumer
from dealpulse_verdict.settings import VerdictSettings
from dealpulse_verdict.tenant_thresholds import tenant_thresholds


def create_app(settings: VerdictSettings | None = None) -> FastAPI:
    settings = settings or VerdictSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with ServiceRuntime(settings, consumes=CONSUMED_TOPICS) as runtime:
            app.state.runtime = runtime
            verdicts = VerdictConsumer(runtime.pool, tenant_thresholds(settings.settings_cache_ttl_s),
                                       settings.service_name, settings.transient_retry_s)
            runtime.process(verdicts.handle, settings.max_batch)
            yield

    app = FastAPI(title="DealPulse verdict", version="1.0.0", lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(probe_router(runtime_checks(app.state)))
    return app
