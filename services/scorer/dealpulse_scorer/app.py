"""Scorer service: app factory and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dealpulse_common import metrics
from dealpulse_common.db import create_pool
from dealpulse_common.kafka import EventPublisher, StreamProcessor, ensure_topics, make_consumer, make_producer
from dealpulse_common.service import BackgroundWork, install_problem_handlers, probe_router
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
        await ensure_topics(settings)
        pool = await create_pool(settings.database_url, max_size=settings.database_pool_size)
        producer = make_producer(settings)
        consumer = make_consumer(settings, DEAL_CHANGED)
        await producer.start()
        await consumer.start()
        publisher = EventPublisher(producer, settings.service_name, settings.kafka_publish_timeout_s)
        processor = StreamProcessor(consumer, publisher, [DEAL_CHANGED], ScoringConsumer(pool, registry).handle,
                                    settings.service_name, settings.max_batch)
        app.state.registry, app.state.pool, app.state.publisher = registry, pool, publisher
        work = BackgroundWork()
        work.start("scoring", processor.run())
        try:
            yield
        finally:
            processor.stop()  # finishes the batch in hand and commits it
            await work.wait()
            await consumer.stop()
            await producer.stop()
            await pool.close()

    app = FastAPI(title="DealPulse scorer", version="1.0.0", lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(router)

    async def database_ready() -> bool:
        return bool(await app.state.pool.fetchval("SELECT 1"))

    async def broker_ready() -> bool:
        return await app.state.publisher.ready()

    async def model_ready() -> bool:
        return app.state.registry.active_version() is not None

    app.include_router(probe_router({"database": database_ready, "broker": broker_ready, "model": model_ready}))
    return app
