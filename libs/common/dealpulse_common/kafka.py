"""Kafka wiring used by every service: topics up front, durable producers, committing stream processors.

Settings follow what was measured on the embedded broker (see docs/ARCHITECTURE.md): 25 ms fetch waits, short
sessions with a quick heartbeat, acks=all always, idempotence only where the broker supports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2
from pydantic import ValidationError

from dealpulse_common import metrics
from dealpulse_common.backoff import with_backoff
from dealpulse_common.events import CloudEvent, DeadLetter, deterministic_id
from dealpulse_common.logging import tenant_var, traceparent_var
from dealpulse_common.settings import ServiceSettings
from dealpulse_common.topics import ALL_TOPICS, DEAD_LETTERS, Topic

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """The broker did not acknowledge in time: the caller must not report success."""


async def ensure_topics(settings: ServiceSettings, topics: Sequence[Topic[CloudEvent]] = ALL_TOPICS) -> None:
    """Create every topic with the configured partition count; the broker must never auto-create them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id=settings.service_name)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(t.name, num_partitions=settings.kafka_partitions,
                     replication_factor=settings.kafka_replication_factor)
            for t in topics if t.name not in existing
        ]
        if missing:
            # Another service may create them between our list and our create.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


# Records sent while a request is in flight share one batch up to this size. aiokafka's 16 KiB default holds two
# or three scored events; the embedded broker stores every batch as an object and lists all of a partition's
# objects on each fetch behind the log end, so small batches made a lagging consumer crawl (docs/SCALING.md).
# It stays well under the consumers' max_partition_fetch_bytes (1 MiB): that broker never returns a batch larger
# than the fetch allows, so a bigger batch would stop its partition.
PRODUCER_MAX_BATCH_BYTES = 256 * 1024


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=settings.service_name,
        acks="all",
        enable_idempotence=settings.kafka_idempotent_producer,
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=PRODUCER_MAX_BATCH_BYTES,
        request_timeout_ms=int(settings.kafka_publish_timeout_s * 1000) + 1000,
    )


def make_consumer(
    settings: ServiceSettings, *topics: Topic[CloudEvent], group_id: str | None = None
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *(t.name for t in topics),
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=settings.service_name,
        group_id=group_id or settings.service_name,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        max_poll_interval_ms=60_000,
    )


@dataclass(frozen=True)
class Outgoing:
    topic: Topic[CloudEvent]
    event: CloudEvent


class EventPublisher:
    """Sends events and waits for the broker's acknowledgement, never longer than the configured timeout."""

    def __init__(self, producer: AIOKafkaProducer, service: str, timeout_s: float) -> None:
        self._producer = producer
        self._service = service
        self._timeout_s = timeout_s

    async def ready(self) -> bool:
        """The broker answers a metadata request."""
        await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=1.5)
        return True

    async def publish(self, topic: Topic[CloudEvent], event: CloudEvent) -> None:
        await self.publish_many([Outgoing(topic, event)])

    async def publish_many(self, outgoing: Sequence[Outgoing]) -> None:
        if not outgoing:
            return
        try:
            futures = await asyncio.wait_for(self._append_all(outgoing), self._timeout_s)
            await asyncio.wait_for(asyncio.gather(*futures), self._timeout_s)
        except (TimeoutError, KafkaError) as exc:
            raise PublishError(f"broker did not acknowledge: {exc!r}") from exc
        for item in outgoing:
            metrics.EVENTS_PUBLISHED.labels(self._service, item.topic.name).inc()

    async def _append_all(self, outgoing: Sequence[Outgoing]) -> list[asyncio.Future[object]]:
        # One coroutine appends them all: with nothing to wait for (metadata known, buffer free) it never yields,
        # so the producer's sender finds them together and sends one batch per partition, not one per record.
        return [await self._send(item) for item in outgoing]

    async def _send(self, item: Outgoing) -> asyncio.Future[object]:
        headers = [("traceparent", item.event.traceparent.encode())] if item.event.traceparent else []
        future: asyncio.Future[object] = await self._producer.send(
            item.topic.name, value=item.event.to_bytes(), key=item.event.key.encode(), headers=headers
        )
        return future

    async def republish(self, topic: Topic[CloudEvent], key: str | None, value: bytes,
                        headers: Sequence[tuple[str, bytes]]) -> None:
        """Send bytes exactly as they were first published (a dead letter's original, replayed), and wait for the
        acknowledgement."""
        try:
            future = await asyncio.wait_for(self._producer.send(
                topic.name, value=value, key=key.encode() if key is not None else None, headers=list(headers)),
                self._timeout_s)
            await asyncio.wait_for(future, self._timeout_s)
        except (TimeoutError, KafkaError) as exc:
            raise PublishError(f"broker did not acknowledge: {exc!r}") from exc
        metrics.EVENTS_PUBLISHED.labels(self._service, topic.name).inc()

    async def dead_letter(self, record: ConsumerRecord, error: str) -> None:
        key = record.key.decode(errors="replace") if record.key else None
        tenant_id, _, deal_id = (key or "").partition(":")
        # Named by where the bytes sit, so a batch re-read after a crash writes the same letter again, not another.
        letter = DeadLetter.of(service=self._service, original_topic=record.topic, original_key=key,
                               original=record.value or b"", error=error, tenant_id=tenant_id, deal_id=deal_id,
                               partition=record.partition, offset=record.offset,
                               id=deterministic_id("dead-letter", self._service, record.topic, str(record.partition),
                                                   str(record.offset)))
        await self.publish(DEAD_LETTERS, letter)
        metrics.DEAD_LETTERS.labels(self._service, record.topic).inc()


async def read_whole_topic(settings: ServiceSettings, topic: Topic[CloudEvent],
                           timeout_s: float = 30.0) -> list[ConsumerRecord]:
    """Every record on ``topic`` now, from the start of each partition, without joining a group or committing.

    The end is each partition's highwater as a fetch returns it (the embedded broker's ``end_offsets`` is wrong
    after multi-record batches, see STACK.md); records arriving while it reads may or may not be included."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, client_id=settings.service_name,
                                group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_wait_ms=max(settings.kafka_fetch_max_wait_ms, 50))
    await consumer.start()
    try:
        await consumer.topics()  # metadata, so the partitions are known
        partitions = [TopicPartition(topic.name, p) for p in sorted(consumer.partitions_for_topic(topic.name) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while not await _read_to_highwater(consumer, partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic.name} to its end within {timeout_s:.0f} s")
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def _read_to_highwater(consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]) -> bool:
    for tp in partitions:
        highwater = consumer.highwater(tp)
        if highwater is None or await consumer.position(tp) < highwater:
            return False
    return True


Handler = Callable[[list[CloudEvent]], Awaitable[list[Outgoing]]]


class Assignment:
    """The partitions a consumer holds right now, and whether the partition of a key is among them.

    Partitions are found as every producer here places keys: Kafka's default partitioner (murmur2 of the key,
    modulo the topic's partition count)."""

    def __init__(self, partitions: frozenset[TopicPartition], partition_counts: Mapping[str, int]) -> None:
        self.partitions = partitions
        self._counts = dict(partition_counts)

    def knows(self, topic: Topic[CloudEvent]) -> bool:
        """Whether the topic's partition count is known (``owns`` can only answer False until it is)."""
        return bool(self._counts.get(topic.name))

    def owns(self, topic: Topic[CloudEvent], key: str) -> bool:
        count = self._counts.get(topic.name)
        if not count:
            return False
        partition = (murmur2(key.encode()) & 0x7FFFFFFF) % count
        return TopicPartition(topic.name, partition) in self.partitions


BetweenBatches = Callable[[Assignment], Awaitable[bool]]
"""Work a stream processor runs in its own loop between two batches (never during one), given the partitions it
holds; it returns True while it has more to do, and the loop then polls without waiting."""


class ConsumerLag:
    """``dealpulse_consumer_lag{group, topic, partition}`` for the partitions this consumer holds: the highwater
    its last fetch returned minus its position after the last handled batch (what it committed). Not the broker's
    end offsets, which the embedded broker gets wrong after multi-record batches (see STACK.md); a partition not
    fetched yet has no series, and a partition handed to another replica loses this replica's."""

    def __init__(self, group: str) -> None:
        self._group = group
        self._exported: set[TopicPartition] = set()

    async def export(self, consumer: AIOKafkaConsumer) -> None:
        held = consumer.assignment()
        exported: set[TopicPartition] = set()
        for tp in held:
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = await consumer.position(tp)  # known once a fetch returned: no wait
            except IllegalStateError:  # revoked by a rebalance meanwhile
                continue
            metrics.CONSUMER_LAG.labels(self._group, tp.topic, str(tp.partition)).set(max(highwater - position, 0))
            exported.add(tp)
        for tp in self._exported - exported:
            metrics.CONSUMER_LAG.remove(self._group, tp.topic, str(tp.partition))
        self._exported = exported


async def rewind_recreated_partitions(consumer: AIOKafkaConsumer) -> list[TopicPartition]:
    """Read from the start every held partition whose log now ends before this consumer's position.

    That happens only when its topic was deleted and created again, which is how the embedded stack keeps its
    logs short (``dealpulse_cli.log_rotation``): the embedded broker answers a fetch past the log end with an empty
    result rather than an out-of-range error, so without this the consumer would silently receive nothing more.
    Returns the partitions rewound."""
    rewound = []
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        if highwater is None:
            continue
        try:
            position = await consumer.position(tp)
        except IllegalStateError:  # revoked by a rebalance meanwhile
            continue
        if position > highwater:
            rewound.append(tp)
    if rewound:
        await consumer.seek_to_beginning(*rewound)
        log.warning("partitions end before our position (their topic was created again); reading them from the "
                    "start", extra={"partitions": [f"{tp.topic}/{tp.partition}" for tp in rewound]})
    return rewound


class StreamProcessor:
    """Consume micro-batches, hand typed events to ``handler``, publish its output, then commit.

    At least once: offsets are committed only after the handler's writes are done and its output is
    acknowledged, so every sink must be idempotent by event id. Bytes that do not parse go to ``dlq.v1``
    with the reason and the partition keeps flowing.
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        publisher: EventPublisher,
        topics: Sequence[Topic[CloudEvent]],
        handler: Handler,
        service: str,
        max_batch: int = 500,
        between_batches: BetweenBatches | None = None,
        publish_retry_s: float = 120.0,
        group: str | None = None,
    ) -> None:
        self._consumer = consumer
        self._publisher = publisher
        self._topics = {t.name: t for t in topics}
        self._handler = handler
        self._service = service
        self._max_batch = max_batch
        self._between_batches = between_batches
        self._publish_retry_s = publish_retry_s
        self._stopping = asyncio.Event()
        self._lag = ConsumerLag(group or service)
        self.assigned = False

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        busy = False
        while not self._stopping.is_set():
            if self._between_batches is not None:
                busy = await self._between_batches(self.assignment())
            batch = await self._consumer.getmany(timeout_ms=0 if busy else 100, max_records=self._max_batch)
            self.assigned = bool(self._consumer.assignment())
            if batch:
                await self._handle_batch(batch)
            await rewind_recreated_partitions(self._consumer)
            await self._lag.export(self._consumer)

    def assignment(self) -> Assignment:
        partitions = frozenset(self._consumer.assignment())
        counts = {name: len(self._consumer.partitions_for_topic(name) or ()) for name in self._topics}
        return Assignment(partitions, counts)

    async def _handle_batch(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        started = time.perf_counter()
        events: list[CloudEvent] = []
        for records in batch.values():
            for record in records:
                event = await self._decode(record)
                if event is not None:
                    events.append(event)
        if events:
            outgoing = await self._handler(events)
            # The handler's writes are done and idempotent, so a broker blip is waited out here rather than
            # stopping the service; past the budget the batch stays uncommitted and the service stops.
            await with_backoff(lambda: self._publisher.publish_many(outgoing), (PublishError,),
                               self._publish_retry_s, what="publishing the batch's output")
        await self._commit({tp: records[-1].offset + 1 for tp, records in batch.items()})
        metrics.BATCH_DURATION.labels(self._service).observe(time.perf_counter() - started)

    async def _decode(self, record: ConsumerRecord) -> CloudEvent | None:
        topic = self._topics[record.topic]
        try:
            event = topic.decode(record.value or b"")
        except (ValidationError, ValueError) as exc:
            log.warning("unparseable message sent to the dead-letter topic",
                        extra={"topic": record.topic, "offset": record.offset})
            await self._publisher.dead_letter(record, f"cannot parse as {topic.event.__name__}: {exc}")
            return None
        metrics.EVENTS_CONSUMED.labels(self._service, record.topic).inc()
        traceparent_var.set(event.traceparent)
        tenant_var.set(event.tenantid)
        return event

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError:
            # The partitions moved to another member during a rebalance; it re-reads from the last commit and
            # our sinks are idempotent, so nothing is lost or doubled in the read model.
            log.warning("commit failed after a rebalance; the new owner will re-process the batch")
