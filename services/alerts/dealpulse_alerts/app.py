"""Alerts service: app factory and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis

from dealpulse_alerts.card_cache import DealCardCache
from dealpulse_alerts.consumer import AlertsConfig, AlertsConsumer
from dealpulse_alerts.redis_guard import RedisGuard
from dealpulse_alerts.settings import AlertsSettings
from dealpulse_alerts.throttle import AlertThrottle
from dealpulse_common.db import create_pool
from dealpulse_common.kafka import EventPublisher, StreamProcessor, ensure_topics, make_consumer, make_producer
from dealpulse_common.service import BackgroundWork, install_problem_handlers, probe_router
from dealpulse_common.topics import DEAL_SCORED, DEAL_VERDICT

CONSUMED_TOPICS = [DEAL_SCORED, DEAL_VERDICT]


def create_app(settings: AlertsSettings | None = None) -> FastAPI:
    settings = settings or AlertsSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings)
        pool = await create_pool(settings.database_url, max_size=settings.database_pool_size)
        redis = Redis.from_url(settings.redis_url, socket_timeout=settings.redis_timeout_s,
                               socket_connect_timeout=settings.redis_timeout_s)
        producer = make_producer(settings)
        consumer = make_consumer(settings, *CONSUMED_TOPICS)
        await producer.start()
        await consumer.start()
        publisher = EventPublisher(producer, settings.service_name, settings.kafka_publish_timeout_s)
        guard = RedisGuard(settings.redis_cooldown_s)
        alerts = AlertsConsumer(
            pool, publisher, AlertThrottle(redis, guard, settings.throttle_window),
            DealCardCache(redis, guard, settings.deal_card_ttl),
            AlertsConfig(rules=settings.alert_rules(), dashboard_url=settings.dashboard_url,
                         retry_budget_s=settings.transient_retry_s, service=settings.service_name),
        )
        processor = StreamProcessor(consumer, publisher, CONSUMED_TOPICS, alerts.handle, settings.service_name,
                                    settings.max_batch)
        app.state.pool, app.state.publisher, app.state.redis = pool, publisher, redis
        work = BackgroundWork()
        work.start("alerts", processor.run())
        try:
            yield
        finally:
            processor.stop()  # finishes the batch in hand (alerts stored, published, marked) and commits it
            await work.wait()
            await consumer.stop()
            await producer.stop()
            await redis.aclose()
            await pool.close()

    app = FastAPI(title="DealPulse alerts", version="1.0.0", lifespan=lifespan)
    install_problem_handlers(app)

    async def database_ready() -> bool:
        return bool(await app.state.pool.fetchval("SELECT 1"))

    async def broker_ready() -> bool:
        return bool(await app.state.publisher.ready())

    async def redis_ready() -> bool:
        return bool(await app.state.redis.ping())

    app.include_router(probe_router({"database": database_ready, "broker": broker_ready, "redis": redis_ready}))
    return app
