"""Random bytes on every consumed topic end in dlq.v1, one letter from each consumer, and the partition goes on: a
valid record behind the garbage, under the same key (so on the same partition), is still handled by every consumer.

Needs the ``system`` fixture (tests/conftest.py): the embedded stack with the services running.
"""

from __future__ import annotations

import random

from dealpulse_common.events import CloudEvent, CommitAdmission, ForecastBucket
from dealpulse_common.topics import (
    ALL_TOPICS,
    DEAD_LETTERS,
    DEAL_ALERTS,
    DEAL_CHANGED,
    DEAL_SCORED,
    DEAL_VERDICT,
    DEAL_VERDICT_OVERRIDE,
    Topic,
)
from tests import events
from tests.alert_setup import critical_score
from tests.support import RunningSystem, StreamClient, Tenant, poll_until

SEED = 13  # the garbage is reproducible: the same bytes on every run
# Who consumes each topic: one dead letter from each is expected for its garbage.
CONSUMERS = {DEAL_CHANGED: {"scorer", "gateway"}, DEAL_SCORED: {"verdict", "alerts", "gateway"},
             DEAL_VERDICT: {"alerts", "gateway"}, DEAL_VERDICT_OVERRIDE: {"verdict"}, DEAL_ALERTS: {"gateway"}}


def garbage(rng: random.Random) -> list[bytes]:
    """Bytes no consumer can parse: random binary of a few sizes, and text that is almost JSON."""
    return [rng.randbytes(1), rng.randbytes(rng.randint(2, 64)), rng.randbytes(rng.randint(512, 4096)),
            b"{" + rng.randbytes(32).hex().encode()]


async def test_random_bytes_on_every_topic_are_dead_lettered_by_each_consumer_and_their_partition_goes_on(
        system: RunningSystem) -> None:
    assert set(CONSUMERS) == {t for t in ALL_TOPICS if t is not DEAD_LETTERS}  # a new topic needs its case here
    tenant = await system.new_tenant("fuzz")
    rng = random.Random(SEED)
    dashboard = await system.stream(tenant)
    try:
        # A change then the deal's tombstone, behind garbage: the scorer scores the change, the gateway streams the
        # deletion (the only changes it shows).
        change = events.changed(tenant.tenant_id, "D-changed", source_event_id="fuzz-1")
        tombstone = events.changed(tenant.tenant_id, "D-changed", deleted=True, source_event_id="fuzz-2")
        await _behind_garbage(system, rng, DEAL_CHANGED, tenant, "D-changed", [change, tombstone])
        # A critical score: verdict judges it, alerts raises "entered critical", the gateway streams it.
        score = critical_score(tenant, "D-scored", "rep-1")
        await _behind_garbage(system, rng, DEAL_SCORED, tenant, "D-scored", [score])
        # A commit not admitted: alerts raises it, the gateway streams it.
        verdict = events.verdict_event(events.verdict_data(
            ai_forecast=ForecastBucket.COMMIT, ai_verdict=ForecastBucket.BEST_CASE,
            commit_admission=CommitAdmission.NOT_ADMITTED, owner_id="rep-1"),
            tenant_id=tenant.tenant_id, deal_id="D-verdict")
        await _behind_garbage(system, rng, DEAL_VERDICT, tenant, "D-verdict", [verdict])
        alert = events.alert(tenant.tenant_id, "D-alert")
        await _behind_garbage(system, rng, DEAL_ALERTS, tenant, "D-alert", [alert])

        await _handled(system, tenant, "risk_scores", "D-changed")
        for table in ("verdicts", "alerts"):
            await _handled(system, tenant, table, "D-scored")
        await _handled(system, tenant, "alerts", "D-verdict")
        await _streamed(dashboard, {tombstone.id: "deleted", score.id: "score", verdict.id: "verdict",
                                    alert.id: "alert"})

        # An override needs the deal's verdict, which verdict stored above.
        override = events.override_command(tenant.tenant_id, "D-scored")
        await _behind_garbage(system, rng, DEAL_VERDICT_OVERRIDE, tenant, "D-scored", [override])
        await _handled(system, tenant, "verdict_overrides", "D-scored")
    finally:
        await dashboard.close()

    # Every consumer dead-lettered every piece of garbage of the topics it reads, with where it came from.
    per_topic = len(garbage(random.Random(SEED)))
    expected = sum(len(services) for services in CONSUMERS.values()) * per_topic
    letters = await system.read_topic(DEAD_LETTERS, expected, lambda letter: letter.tenantid == tenant.tenant_id)
    found = {(letter.data.original_topic, letter.data.service, letter.data.offset) for letter in letters}
    assert len(found) == expected == len({letter.id for letter in letters})
    assert {(topic, service) for topic, service, _ in found} == {
        (topic.name, service) for topic, services in CONSUMERS.items() for service in services}
    assert all("cannot parse" in letter.data.error for letter in letters)


async def _behind_garbage(system: RunningSystem, rng: random.Random, topic: Topic[CloudEvent], tenant: Tenant,
                          deal_id: str, valid: list[CloudEvent]) -> None:
    """Garbage under the deal's key, then the valid events: one partition, garbage first."""
    await system.publish_bytes(topic, f"{tenant.tenant_id}:{deal_id}", garbage(rng))
    await system.publish(topic, valid)


async def _handled(system: RunningSystem, tenant: Tenant, table: str, deal_id: str) -> None:
    await poll_until(lambda: system.admin_fetch(f"SELECT 1 FROM {table} WHERE tenant_id = $1 AND deal_id = $2",
                                                tenant.tenant_id, deal_id), timeout=30)


async def _streamed(dashboard: StreamClient, wanted: dict[str, str]) -> None:
    messages = await dashboard.until_ids(set(wanted), within_s=30)
    kinds = {m["event"]["id"]: m["kind"] for m in messages if m["event"]["id"] in wanted}
    assert kinds == wanted
