"""Ingest service: app factory and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dealpulse_common.db import create_pool
from dealpulse_common.kafka import EventPublisher, ensure_topics, make_producer
from dealpulse_common.service import install_problem_handlers, probe_router
from dealpulse_ingest.routes import router
from dealpulse_ingest.secrets import WebhookSecrets
from dealpulse_ingest.settings import IngestSettings


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings)
        producer = make_producer(settings)
        await producer.start()
        pool = await create_pool(settings.database_url, max_size=settings.database_pool_size)
        app.state.settings = settings
        app.state.pool = pool
        app.state.secrets = WebhookSecrets(pool, settings.secret_cache_ttl_s)
        app.state.publisher = EventPublisher(producer, settings.service_name, settings.kafka_publish_timeout_s)
        try:
            yield
        finally:
            await producer.stop()  # flushes whatever is in flight before we go
            await pool.close()

    app = FastAPI(title="DealPulse ingest", version="1.0.0", lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(router)

    async def database_ready() -> bool:
        return bool(await app.state.pool.fetchval("SELECT 1"))

    async def broker_ready() -> bool:
        return bool(await app.state.publisher.ready())

    app.include_router(probe_router({"database": database_ready, "broker": broker_ready}))
    return app
