"""A poison message goes to dlq.v1 with its reason, and the partition keeps flowing."""

from __future__ import annotations

import base64
import uuid

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dealpulse_common.events import DeadLetter
from dealpulse_common.topics import DEAD_LETTERS, DEAL_CHANGED
from tests.support import RunningSystem, deal_change, poll_until
from tests.unit.gateway import samples


async def test_poison_message_goes_to_dlq_and_next_message_is_scored(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    poison_key = f"{tenant.tenant_id}:D-poison"
    poison = b"{not json at all " + uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(bootstrap_servers=system.stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        # Same key as the valid deal below, so both land on one partition, poison first.
        await producer.send_and_wait(DEAL_CHANGED.name, poison, key=f"{tenant.tenant_id}:D-1".encode())
        await producer.send_and_wait(DEAL_CHANGED.name, b'{"type": "wrong"}', key=poison_key.encode())
    finally:
        await producer.stop()

    response = await system.send_change(tenant, deal_change("D-1", "2026-11-20T10:00:00Z", amount=900))
    assert response.status_code == 202
    await poll_until(lambda: system.admin_fetch(
        "SELECT 1 FROM risk_scores WHERE tenant_id = $1 AND deal_id = 'D-1'", tenant.tenant_id), timeout=30)

    letters = await _dead_letters_for(system, tenant.tenant_id, expected=2)
    by_value = {base64.b64decode(letter.data.original_value_b64): letter for letter in letters}
    assert poison in by_value
    letter = by_value[poison]
    assert letter.data.original_topic == DEAL_CHANGED.name
    assert letter.data.service == "scorer"
    assert "cannot parse" in letter.data.error
    assert letter.data.offset is not None


async def _dead_letters_for(system: RunningSystem, tenant_id: str, expected: int) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(DEAD_LETTERS.name, bootstrap_servers=system.stack.kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=10)
    await consumer.start()
    found: list[DeadLetter] = []
    try:
        async def read() -> list[DeadLetter] | None:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    letter = DEAD_LETTERS.decode(record.value)
                    if letter.tenantid == tenant_id and letter.data.service == "scorer":
                        found.append(letter)
            return found if len(found) >= expected else None

        return await poll_until(read, timeout=30)
    finally:
        await consumer.stop()


async def test_a_change_the_database_refuses_is_dead_lettered_and_its_batch_neighbours_are_scored(
        system: RunningSystem) -> None:
    # It parses (a foreign producer put a NUL in the envelope's deal id), so only storing it fails.
    tenant = await system.new_tenant()
    await system.publish(DEAL_CHANGED, [
        samples.changed(tenant.tenant_id, deal_id, source_event_id=f"neighbour-{n}")
        for n, deal_id in enumerate(("D-before", "D-\x00bad", "D-after"))])

    for deal_id in ("D-before", "D-after"):
        await poll_until(lambda deal_id=deal_id: system.admin_fetch(
            "SELECT 1 FROM risk_scores WHERE tenant_id = $1 AND deal_id = $2", tenant.tenant_id, deal_id), timeout=30)
    letters = await _dead_letters_for(system, tenant.tenant_id, expected=1)
    assert [letter.dealid for letter in letters] == ["D-\x00bad"]
    assert letters[0].data.original_topic == DEAL_CHANGED.name
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(f"{system.url('scorer')}/healthz")).status_code == 200
