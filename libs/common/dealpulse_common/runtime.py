"""What every DealPulse service holds for its lifetime, opened in order and closed in reverse.

Topics are ensured first; then the database pool, the producer and (for a stream processor) the consumer start.
On the way out the processor stops first — finishing, publishing and committing the batch in hand — then the
consumer, the producer and the pool close. A failure half-way through start-up closes whatever had started.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack
from types import TracebackType

import asyncpg
from aiokafka import AIOKafkaConsumer

from dealpulse_common.db import create_pool
from dealpulse_common.events import CloudEvent
from dealpulse_common.kafka import (
    BetweenBatches,
    EventPublisher,
    Handler,
    StreamProcessor,
    ensure_topics,
    make_consumer,
    make_producer,
)
from dealpulse_common.service import BackgroundWork, ReadinessCheck
from dealpulse_common.settings import ServiceSettings
from dealpulse_common.topics import Topic


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, consumes: Sequence[Topic[CloudEvent]] = (),
                 group_id: str | None = None) -> None:
        self._settings = settings
        self._consumes = list(consumes)
        self._group_id = group_id or settings.service_name
        self._resources = AsyncExitStack()
        self.pool: asyncpg.Pool
        self.publisher: EventPublisher
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> ServiceRuntime:
        try:
            await self._open()
        except BaseException:
            await self._resources.aclose()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._resources.aclose()

    async def _open(self) -> None:
        settings = self._settings
        await ensure_topics(settings)
        self.pool = await create_pool(settings.database_url, max_size=settings.database_pool_size)
        self._resources.push_async_callback(self.pool.close)
        producer = make_producer(settings)
        await producer.start()
        self._resources.push_async_callback(producer.stop)  # flushes what is in flight
        self.publisher = EventPublisher(producer, settings.service_name, settings.kafka_publish_timeout_s)
        if self._consumes:
            self._consumer = make_consumer(settings, *self._consumes, group_id=self._group_id)
            await self._consumer.start()
            self._resources.push_async_callback(self._consumer.stop)

    def process(self, handler: Handler, max_batch: int = 500, between_batches: BetweenBatches | None = None) -> None:
        """Run the consume → handle → publish → commit loop in the background until the runtime closes
        (``between_batches``, if given, runs in that same loop between two batches)."""
        if self._consumer is None:
            raise RuntimeError("this runtime consumes no topic")
        processor = StreamProcessor(self._consumer, self.publisher, self._consumes, handler,
                                    self._settings.service_name, max_batch, between_batches,
                                    group=self._group_id)
        work = BackgroundWork()
        work.start(f"{self._settings.service_name}-stream", processor.run())

        async def stop() -> None:
            processor.stop()
            await work.wait()

        self._resources.push_async_callback(stop)

    async def database_ready(self) -> bool:
        return bool(await self.pool.fetchval("SELECT 1"))

    async def broker_ready(self) -> bool:
        return await self.publisher.ready()


def runtime_checks(state: object) -> dict[str, ReadinessCheck]:
    """Readiness of the runtime a lifespan stores as ``app.state.runtime`` (absent until start-up finished)."""

    def runtime() -> ServiceRuntime:
        found: ServiceRuntime = getattr(state, "runtime")  # noqa: B009 - set by the lifespan, after import time
        return found

    async def database() -> bool:
        return await runtime().database_ready()

    async def broker() -> bool:
        return await runtime().broker_ready()

    return {"database": database, "broker": broker}
