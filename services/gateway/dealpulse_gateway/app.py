"""Gateway service: app factory and lifespan.

It runs two things in one process: the HTTP edge (REST, WebSocket, dashboard) and the fan-out consumer that copies
scores, verdicts and alerts from Kafka into per-tenant Redis streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from redis.asyncio import Redis

from dealpulse_common.http_auth import tenant_status_cache
from dealpulse_common.runtime import ServiceRuntime, runtime_checks
from dealpulse_common.secrets_at_rest import SecretBox
from dealpulse_common.service import BackgroundWork, install_problem_handlers, probe_router
from dealpulse_common.topics import DEAL_ALERTS, DEAL_CHANGED, DEAL_SCORED, DEAL_VERDICT
from dealpulse_gateway import (
    admin_routes,
    alert_feedback_routes,
    alert_setup_routes,
    analytics_routes,
    connector_routes,
    model_performance,
    override_routes,
    routes,
    scorer_proxy,
    scoring,
    settings_routes,
    stream,
    tenant_routes,
)
from dealpulse_gateway.fanout import StreamFanout
from dealpulse_gateway.settings import GatewaySettings
from dealpulse_gateway.snapshots import DailySnapshots

STATIC_DIR = Path(__file__).parent / "static"
# Changes only for their tombstones: a deleted deal publishes no score, yet an open dashboard must drop its row.
FANNED_OUT_TOPICS = (DEAL_SCORED, DEAL_VERDICT, DEAL_ALERTS, DEAL_CHANGED)


@asynccontextmanager
async def daily_snapshots(runtime: ServiceRuntime, settings: GatewaySettings) -> AsyncIterator[None]:
    """The daily pipeline snapshot job, stopped before the pool closes."""
    stop = asyncio.Event()
    work = BackgroundWork()
    work.start("gateway-snapshots", DailySnapshots(runtime.pool, settings).run(stop))
    try:
        yield
    finally:
        stop.set()
        await work.wait()


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The exit stack unwinds in reverse whatever had started when a later step fails or the service stops.
        async with AsyncExitStack() as resources:
            redis = Redis.from_url(settings.redis_url, decode_responses=True, socket_timeout=settings.redis_timeout_s,
                                   socket_connect_timeout=settings.redis_timeout_s)
            resources.push_async_callback(redis.aclose)
            scorer = scorer_proxy.make_scorer_client(settings)
            resources.push_async_callback(scorer.close)
            # The runtime's producer only carries dead letters: the fan-out itself publishes nothing.
            runtime = await resources.enter_async_context(
                ServiceRuntime(settings, consumes=FANNED_OUT_TOPICS, group_id=settings.consumer_group))
            fanout = StreamFanout(redis, stream_maxlen=settings.stream_maxlen, dedupe_ttl_s=settings.dedupe_ttl_s)
            runtime.process(fanout.handle)
            app.state.runtime = runtime
            app.state.settings = settings
            app.state.pool = runtime.pool
            tenant_status_cache(app, runtime.pool)
            app.state.redis = redis
            app.state.scorer = scorer
            app.state.publisher = runtime.publisher
            await resources.enter_async_context(daily_snapshots(runtime, settings))
            yield

    app = FastAPI(title="DealPulse gateway", version="1.0.0", lifespan=lifespan)
    app.state.settings = settings  # available before startup too (auth reads the secret from here)
    app.state.secret_box = SecretBox(settings.secrets_keys)  # seals tenants' webhook and connector secrets
    install_problem_handlers(app)
    app.include_router(routes.router)
    app.include_router(scoring.router)
    app.include_router(model_performance.router)
    app.include_router(stream.router)
    app.include_router(admin_routes.router)
    app.include_router(settings_routes.router)
    app.include_router(alert_setup_routes.router)
    app.include_router(alert_feedback_routes.router)
    app.include_router(analytics_routes.router)
    app.include_router(override_routes.router)
    app.include_router(tenant_routes.router)
    app.include_router(connector_routes.router)

    async def redis_ready() -> bool:
        return bool(await app.state.redis.ping())

    app.include_router(probe_router({**runtime_checks(app.state), "redis": redis_ready}))

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
