"""What an SRE reads on /metrics: consumer lag on every consumer, HTTP requests by route template on every service."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric

from dealpulse_alerts.app import CONSUMED_TOPICS as ALERTS_TOPICS
from dealpulse_cli.supervisor import DEFAULT_PORTS
from dealpulse_common.events import CloudEvent, DealChanged
from dealpulse_common.kafka import (
    EventPublisher,
    Outgoing,
    StreamProcessor,
    ensure_topics,
    make_consumer,
    make_producer,
)
from dealpulse_common.settings import ServiceSettings
from dealpulse_common.topics import DEAL_CHANGED, Topic
from dealpulse_gateway.app import FANNED_OUT_TOPICS
from dealpulse_gateway.settings import GatewaySettings
from dealpulse_verdict.consumer import CONSUMED_TOPICS as VERDICT_TOPICS
from tests.events import changed_event, deal
from tests.support import RunningSystem, poll_until
from tests.unit.deploy.conftest import render
from tests.unit.deploy.queries import dashboard_queries, rule_queries

# Each consumer, its group and what it consumes (the services' own declarations, so a new topic is checked too).
CONSUMERS = {"scorer": ("scorer", (DEAL_CHANGED,)), "verdict": ("verdict", tuple(VERDICT_TOPICS)),
             "alerts": ("alerts", tuple(ALERTS_TOPICS)),
             "gateway": (GatewaySettings().consumer_group, tuple(FANNED_OUT_TOPICS))}


async def _samples(system: RunningSystem, service: str, name: str) -> list[dict[str, str]]:
    return [{**sample.labels, "value": str(sample.value)} for sample in await system.metric_samples(service, name)]


async def test_every_consumer_exports_its_lag_for_every_partition_it_holds(system: RunningSystem) -> None:
    partitions = ServiceSettings().kafka_partitions  # each service runs one replica here: it holds every partition
    for service, (group, topics) in CONSUMERS.items():
        expected = {(topic.name, str(p)) for topic in topics for p in range(partitions)}

        async def lag_of_every_partition(service: str = service, group: str = group,
                                         expected: set[tuple[str, str]] = expected) -> list[dict[str, str]] | None:
            samples = await _samples(system, service, "dealpulse_consumer_lag")
            return samples if {(s["topic"], s["partition"]) for s in samples} == expected else None

        samples = await poll_until(lag_of_every_partition, timeout=30, interval=0.5)
        assert {s["group"] for s in samples} == {group}, service
        assert all(float(s["value"]) >= 0 for s in samples), samples


def _lag(group: str, topic: str) -> float | None:
    return REGISTRY.get_sample_value("dealpulse_consumer_lag", {"group": group, "topic": topic, "partition": "0"})


async def test_lag_is_the_fetched_highwater_minus_what_the_group_has_handled(system: RunningSystem) -> None:
    """A stream processor on a topic of the test's own: while its second batch is held, the lag is what is left."""
    settings = ServiceSettings(kafka_bootstrap=system.stack.kafka_bootstrap, kafka_partitions=1)
    topic: Topic[CloudEvent] = Topic(f"tests.lag.{uuid.uuid4().hex[:8]}", DealChanged, "tests", ("tests",), "")
    group = f"tests-lag-{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    producer = make_producer(settings)
    await producer.start()
    publisher = EventPublisher(producer, "tests", 10.0)
    consumer = make_consumer(settings, topic, group_id=group)
    handled: list[CloudEvent] = []
    release = asyncio.Event()

    async def hold_the_second_batch(events: list[CloudEvent]) -> list[Outgoing]:
        if handled:
            await release.wait()
        handled.extend(events)
        return []

    processor = StreamProcessor(consumer, publisher, [topic], hold_the_second_batch, "tests", max_batch=2, group=group)
    try:
        # On the log before the consumer starts, so every fetch sees all five: the highwater is 5 from the first.
        await publisher.publish_many([Outgoing(topic, changed_event(deal(deal_id=f"D-{n}"))) for n in range(5)])
        await consumer.start()
        running = asyncio.create_task(processor.run())

        async def first_batch_exported() -> tuple[float] | None:
            lag = _lag(group, topic.name)
            return (lag,) if handled and lag is not None else None

        assert await poll_until(first_batch_exported, timeout=30) == (5 - len(handled),)
        release.set()
        assert await poll_until(lambda: _settled(group, topic.name, handled, 5), timeout=30)
        await publisher.publish_many([Outgoing(topic, changed_event(deal(deal_id=f"D-{n}"))) for n in range(5, 7)])
        assert await poll_until(lambda: _settled(group, topic.name, handled, 7), timeout=30)
        processor.stop()
        await running
    finally:
        await consumer.stop()
        await producer.stop()
        await _delete_topic(settings, topic)


async def _settled(group: str, topic: str, handled: list[CloudEvent], expected: int) -> bool:
    return len(handled) == expected and _lag(group, topic) == 0


async def _delete_topic(settings: ServiceSettings, topic: Topic[CloudEvent]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic.name])
    finally:
        await admin.close()


async def test_every_service_counts_its_requests_by_route_template(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    deal_ids = [f"D-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=5) as client:
        for deal_id in deal_ids:
            assert (await client.get(f"/v1/deals/{deal_id}", headers=system.auth(tenant))).status_code == 404
    served = [s for s in await _samples(system, "gateway", "dealpulse_http_requests_total")
              if s["route"] == "/v1/deals/{deal_id}" and s["status"] == "404"]
    assert served and float(served[0]["value"]) >= 2
    gateway_routes = {s["route"] for s in await _samples(system, "gateway", "dealpulse_http_requests_total")}
    assert not any(deal_id in route for route in gateway_routes for deal_id in deal_ids)
    for service in DEFAULT_PORTS:  # every service answered its readiness probe at start-up
        routes = {(s["route"], s["status"]) for s in await _samples(system, service, "dealpulse_http_requests_total")}
        assert ("/readyz", "200") in routes, service


def _exposed_series(families: list[Metric]) -> set[str]:
    """The sample names a /metrics page offers, whether or not a sample was counted yet."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    return {family.name + suffix for family in families for suffix in suffixes.get(family.type, ("",))}


async def test_the_alerting_rules_and_the_dashboard_read_what_the_running_services_expose(
        system: RunningSystem) -> None:
    exposed: set[str] = set()
    for service in DEFAULT_PORTS:
        exposed |= _exposed_series(await system.metric_families(service))
    queries = [*rule_queries(render("prod")), *dashboard_queries()]
    missing = {(query.where, metric) for query in queries for metric in query.metrics if metric not in exposed}
    assert not missing, f"queried but exposed by no running service: {sorted(missing)}"
