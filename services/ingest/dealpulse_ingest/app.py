"""Ingest service: app factory and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dealpulse_common.http_auth import tenant_status_cache
from dealpulse_common.runtime import ServiceRuntime, runtime_checks
from dealpulse_common.service import install_problem_handlers, probe_router
from dealpulse_common.tenant_cache import TenantCache
from dealpulse_ingest import crm_routes, stage_mappings, store
from dealpulse_ingest.import_routes import router as import_router
from dealpulse_ingest.imports.jobs import ImportRunner, ImportSettings
from dealpulse_ingest.ingestor import Ingestor
from dealpulse_ingest.routes import document_read_bodies, router
from dealpulse_ingest.settings import IngestSettings


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with ServiceRuntime(settings) as runtime:
            app.state.runtime = runtime
            app.state.settings = settings
            app.state.pool = runtime.pool
            tenant_status_cache(app, runtime.pool)  # a disabled tenant's import tokens are refused too
            app.state.publisher = runtime.publisher
            app.state.secrets = TenantCache(settings.secret_cache_ttl_s, store.tenant_keys_loader(settings),
                                            pool=runtime.pool)
            mappings = TenantCache(settings.stage_mapping_cache_ttl_s, stage_mappings.load, pool=runtime.pool)
            app.state.ingestor = Ingestor(runtime.pool, runtime.publisher, stage_mappings=mappings,
                                         max_group=settings.group_commit_max)
            # Imports run on a pool of their own so a large load never starves the webhooks' connections.
            app.state.import_runner = ImportRunner(settings.database_url, runtime.publisher, ImportSettings(),
                                                   stage_mappings=mappings)
            try:
                yield
            finally:
                await app.state.import_runner.close()

    app = FastAPI(title="DealPulse ingest", version="1.0.0", lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(router)
    app.include_router(crm_routes.router)
    app.include_router(import_router)
    app.include_router(probe_router(runtime_checks(app.state)))
    document_read_bodies(app)
    return app
