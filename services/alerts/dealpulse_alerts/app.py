"""Alerts service: app factory and lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis

from dealpulse_alerts import routes
from dealpulse_alerts.card_cache import DealCardCache
from dealpulse_alerts.channel_pace import ChannelPace
from dealpulse_alerts.consumer import AlertsConfig, AlertsConsumer
from dealpulse_alerts.delivery import DeliveryConfig, DeliveryWorker
from dealpulse_alerts.redis_guard import RedisGuard
from dealpulse_alerts.scheduler import Scheduler, SchedulerConfig
from dealpulse_alerts.senders import Senders
from dealpulse_alerts.settings import AlertsSettings
from dealpulse_alerts.tenant_rules import tenant_alert_rules
from dealpulse_alerts.throttle import AlertThrottle
from dealpulse_common.runtime import ServiceRuntime, runtime_checks
from dealpulse_common.service import BackgroundWork, install_problem_handlers, probe_router
from dealpulse_common.topics import DEAL_SCORED, DEAL_VERDICT

CONSUMED_TOPICS = [DEAL_SCORED, DEAL_VERDICT]


@asynccontextmanager
async def running_deliveries(runtime: ServiceRuntime, settings: AlertsSettings, redis: Redis,
                             guard: RedisGuard) -> AsyncIterator[None]:
    """The delivery worker and the digest scheduler, stopped (the send in hand finished) before the pool closes."""
    stop = asyncio.Event()
    worker = DeliveryWorker(runtime.pool, Senders(settings.slack_api_url, settings.delivery_timeout_s),
                            ChannelPace(redis, guard, settings.slack_pace_s),
                            DeliveryConfig(settings.retry_policy(), poll_interval_s=settings.delivery_poll_interval_s))
    scheduler = Scheduler(runtime.pool, SchedulerConfig(settings.dashboard_url, settings.schedule_interval_s))
    work = BackgroundWork()
    work.start("alerts-delivery", worker.run(stop))
    work.start("alerts-schedules", scheduler.run(stop))
    try:
        yield
    finally:
        stop.set()
        await work.wait(grace_s=settings.delivery_timeout_s + 1)


def create_app(settings: AlertsSettings | None = None) -> FastAPI:
    settings = settings or AlertsSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url, socket_timeout=settings.redis_timeout_s,
                               socket_connect_timeout=settings.redis_timeout_s)
        app.state.redis = redis
        try:
            async with ServiceRuntime(settings, consumes=CONSUMED_TOPICS) as runtime:
                app.state.runtime = runtime
                guard = RedisGuard(settings.redis_cooldown_s)
                alerts = AlertsConsumer(
                    runtime.pool, runtime.publisher, AlertThrottle(redis, guard),
                    DealCardCache(redis, guard, settings.deal_card_ttl),
                    AlertsConfig(rules=tenant_alert_rules(runtime.pool, settings.alert_rules(),
                                                          settings.rules_cache_ttl_s),
                                 dashboard_url=settings.dashboard_url,
                                 retry_budget_s=settings.transient_retry_s, service=settings.service_name),
                )
                # On the way out the batch in hand is finished (alerts stored, published, marked) and committed.
                runtime.process(alerts.handle, settings.max_batch)
                async with running_deliveries(runtime, settings, redis, guard):
                    yield
        finally:
            await redis.aclose()

    app = FastAPI(title="DealPulse alerts", version="1.0.0", lifespan=lifespan)
    app.state.settings = settings  # the token check reads the secret from here
    install_problem_handlers(app)
    app.include_router(routes.router)

    async def redis_ready() -> bool:
        return bool(await app.state.redis.ping())

    app.include_router(probe_router({**runtime_checks(app.state), "redis": redis_ready}))
    return app
