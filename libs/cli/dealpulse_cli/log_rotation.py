"""Retention for the embedded broker, which enforces none: its topics are emptied once everything on them is read.

The embedded broker keeps every record batch forever and lists all of a partition's batches on every fetch, so a
system left running slows down as its logs grow (docs/BENCHMARKS.md, "Broker: CPU as a topic's log grows"). Once
a topic holds ``rotate_after`` records, ``dealpulse run`` (and the soak benchmark) rotate the logs:

1. the demo feed pauses and the services drain what they were given;
2. once every consumer group has committed every partition to its end, the five services are frozen (SIGSTOP),
   so nothing can be written between the last check and the delete, and the check is made again;
3. every topic but the dead letters is deleted and created again, empty, with the same partitions;
4. the services resume (SIGCONT) and each consumer, finding its partitions end before its position, reads them
   from the start (``dealpulse_common.kafka.rewind_recreated_partitions``); the feed resumes.

Nothing is lost: a topic is emptied only after every group has committed all of it, the dead letters are kept,
and a webhook that arrives while the services are frozen waits in its connection. A real Kafka has retention and
never needs this; it runs only on the embedded stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dealpulse_cli.supervisor import DEFAULT_PORTS, Supervisor
from dealpulse_common.kafka import ensure_topics
from dealpulse_common.settings import ServiceSettings
from dealpulse_common.topics import ALL_TOPICS, DEAD_LETTERS

if TYPE_CHECKING:  # the demo feed imports the training world: not needed to build the CLI's parser
    from dealpulse_cli.demo_feed import DemoCrm

log = logging.getLogger(__name__)

ROTATE_AFTER_RECORDS = 5_000  # on the fullest topic: the soak's probe latency was still flat there (BENCHMARKS.md)
CHECK_EVERY_S = 10.0
DRAIN_TIMEOUT_S = 30.0
SETTLE_S = 0.05  # after the freeze, for a request already on its way to the broker to land before the last check
ROTATED = tuple(t for t in ALL_TOPICS if t is not DEAD_LETTERS)


@dataclass(frozen=True)
class Rotation:
    records_before: int  # on all rotated topics together
    paused_s: float  # from pausing the feed to resuming it


class LogRotation:
    """Empties the embedded broker's topics (see the module's docstring) for the services ``supervisor`` runs."""

    def __init__(self, kafka_bootstrap: str, supervisor: Supervisor, rotate_after: int = ROTATE_AFTER_RECORDS,
                 say: Callable[[str], None] | None = None) -> None:
        self._settings = ServiceSettings(kafka_bootstrap=kafka_bootstrap, service_name="dealpulse-log-rotation")
        self._supervisor = supervisor
        self.rotate_after = rotate_after
        self._say = say
        self.rotations: list[Rotation] = []

    async def keep_short(self, stop: asyncio.Event, feed: DemoCrm | None = None,
                         every_s: float = CHECK_EVERY_S) -> None:
        """Until ``stop``: every ``every_s`` seconds, rotate once a topic holds ``rotate_after`` records, with
        ``feed`` paused meanwhile."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
            if stop.is_set():
                return
            try:
                ends = await self.log_ends()
                if max(_per_topic(ends).values(), default=0) >= self.rotate_after:
                    await self.rotate(feed, ends)
            except Exception:  # a broker hiccup must not stop the system; the next check tries again
                log.exception("the log rotation failed; the next check tries again")

    async def rotate(self, feed: DemoCrm | None = None,
                     ends: Mapping[TopicPartition, int] | None = None) -> Rotation | None:
        """Rotate now if the services drain within ``DRAIN_TIMEOUT_S``; None (nothing deleted) if they did not."""
        started = time.monotonic()
        records = sum((ends or await self.log_ends()).values())
        if feed is not None:
            feed.pause()
        try:
            if not await self._rotate_when_drained(started + DRAIN_TIMEOUT_S):
                log.warning("the services did not read their topics to the end in time; the logs are kept")
                return None
        finally:
            if feed is not None:
                feed.resume()
        rotation = Rotation(records, time.monotonic() - started)
        self.rotations.append(rotation)
        if self._say is not None:
            self._say(f"broker logs emptied ({records:,} records read by every service; paused "
                      f"{rotation.paused_s:.1f} s)")
        return rotation

    async def _rotate_when_drained(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if await self.drained():
                with self._frozen():
                    await asyncio.sleep(SETTLE_S)
                    if await self.drained():
                        await self._recreate_topics()
                        return True
            await asyncio.sleep(0.1)
        return False

    async def drained(self) -> bool:
        """Whether every consumer group has committed every partition of the topics it reads to its end."""
        ends = await self.log_ends()
        for group, partitions in _partitions_by_group(ends).items():
            committed = await self._committed(group, partitions)
            if any((committed.get(tp) or 0) < ends[tp] for tp in partitions):
                return False
        return True

    async def log_ends(self) -> dict[TopicPartition, int]:
        """Every rotated partition's highwater as a fetch returns it (not ``end_offsets``, wrong on this broker)."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self._settings.kafka_bootstrap, group_id=None,
                                    enable_auto_commit=False, client_id=self._settings.service_name,
                                    fetch_max_wait_ms=self._settings.kafka_fetch_max_wait_ms,
                                    max_partition_fetch_bytes=1024)
        await consumer.start()
        try:
            await consumer.topics()
            partitions = [TopicPartition(t.name, p) for t in ROTATED
                          for p in sorted(consumer.partitions_for_topic(t.name) or ())]
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)  # at most one batch short of the end: one small fetch
            deadline = time.monotonic() + 10
            while any(consumer.highwater(tp) is None for tp in partitions):
                if time.monotonic() > deadline:
                    raise TimeoutError("the broker returned no highwater within 10 s")
                await consumer.getmany(timeout_ms=100)
            return {tp: consumer.highwater(tp) or 0 for tp in partitions}
        finally:
            await consumer.stop()

    async def _committed(self, group: str, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._settings.kafka_bootstrap, group_id=group,
                                    enable_auto_commit=False, client_id=self._settings.service_name)
        await consumer.start()
        try:
            return {tp: await consumer.committed(tp) for tp in partitions}
        finally:
            await consumer.stop()

    async def _recreate_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._settings.kafka_bootstrap,
                                    client_id=self._settings.service_name)
        await admin.start()
        try:
            await admin.delete_topics([t.name for t in ROTATED])
        finally:
            await admin.close()
        await ensure_topics(self._settings, ROTATED)

    @contextmanager
    def _frozen(self) -> Iterator[None]:
        self._supervisor.freeze()
        try:
            yield
        finally:
            self._supervisor.thaw()


def _per_topic(ends: Mapping[TopicPartition, int]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for tp, end in ends.items():
        totals[tp.topic] = totals.get(tp.topic, 0) + end
    return totals


def _partitions_by_group(ends: Mapping[TopicPartition, int]) -> dict[str, list[TopicPartition]]:
    """The groups of the running services (each service's group is its name), with the partitions they read."""
    services = set(DEFAULT_PORTS)
    groups: dict[str, list[TopicPartition]] = {}
    for topic in ROTATED:
        for group in (c for c in topic.consumers if c in services):
            groups.setdefault(group, []).extend(tp for tp in ends if tp.topic == topic.name)
    return groups
