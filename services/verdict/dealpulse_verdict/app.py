"""Verdict service: app factory and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dealpulse_common.db import create_pool
from dealpulse_common.kafka import EventPublisher, StreamProcessor, ensure_topics, make_consumer, make_producer
from dealpulse_common.service import BackgroundWork, install_problem_handlers, probe_router
from dealpulse_common.topics import DEAL_SCORED
from dealpulse_verdict.consumer import VerdictConsumer
from dealpulse_verdict.settings import VerdictSettings
from dealpulse_verdict.tenant_thresholds import TenantThresholds


def create_app(settings: VerdictSettings | None = None) -> FastAPI:
    settings = settings or VerdictSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings)
        pool = await create_pool(settings.database_url, max_size=settings.database_pool_size)
        producer = make_producer(settings)
        consumer = make_consumer(settings, DEAL_SCORED)
        await producer.start()
        await consumer.start()
        publisher = EventPublisher(producer, settings.service_name, settings.kafka_publish_timeout_s)
        verdicts = VerdictConsumer(pool, TenantThresholds(settings.settings_cache_ttl_s), settings.service_name,
                                   settings.transient_retry_s)
        processor = StreamProcessor(consumer, publisher, [DEAL_SCORED], verdicts.handle, settings.service_name,
                                    settings.max_batch)
        app.state.pool, app.state.publisher = pool, publisher
        work = BackgroundWork()
        work.start("verdicts", processor.run())
        try:
            yield
        finally:
            processor.stop()  # finishes the batch in hand, publishes it and commits its offsets
            await work.wait()
            await consumer.stop()
            await producer.stop()
            await pool.close()

    app = FastAPI(title="DealPulse verdict", version="1.0.0", lifespan=lifespan)
    install_problem_handlers(app)

    async def database_ready() -> bool:
        return bool(await app.state.pool.fetchval("SELECT 1"))

    async def broker_ready() -> bool:
        return bool(await app.state.publisher.ready())

    app.include_router(probe_router({"database": database_ready, "broker": broker_ready}))
    return app
