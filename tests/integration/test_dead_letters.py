"""A poison message goes to dlq.v1 with its reason, and the partition keeps flowing."""

from __future__ import annotations

import base64
import uuid

import httpx

from dealpulse_common.events import DealScored, RiskCategory
from dealpulse_common.topics import DEAL_CHANGED, DEAL_SCORED
from tests import events
from tests.support import RunningSystem, deal_change, poll_until


async def test_poison_message_goes_to_dlq_and_next_message_is_scored(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    poison_key = f"{tenant.tenant_id}:D-poison"
    poison = b"{not json at all " + uuid.uuid4().hex.encode()
    # Same key as the valid deal below, so both land on one partition, poison first.
    await system.publish_bytes(DEAL_CHANGED, f"{tenant.tenant_id}:D-1", [poison])
    await system.publish_bytes(DEAL_CHANGED, poison_key, [b'{"type": "wrong"}'])

    response = await system.send_change(tenant, deal_change("D-1", "2026-11-20T10:00:00Z", amount=900))
    assert response.status_code == 202
    await poll_until(lambda: system.admin_fetch(
        "SELECT 1 FROM risk_scores WHERE tenant_id = $1 AND deal_id = 'D-1'", tenant.tenant_id), timeout=30)

    letters = await system.dead_letters(tenant.tenant_id, "scorer", expected=2)
    by_value = {base64.b64decode(letter.data.original_value_b64): letter for letter in letters}
    assert poison in by_value
    letter = by_value[poison]
    assert letter.data.original_topic == DEAL_CHANGED.name
    assert letter.data.service == "scorer"
    assert "cannot parse" in letter.data.error
    assert letter.data.offset is not None


async def test_a_change_the_database_refuses_is_dead_lettered_and_its_batch_neighbours_are_scored(
        system: RunningSystem) -> None:
    # It parses (a foreign producer put a NUL in the envelope's deal id), so only storing it fails.
    tenant = await system.new_tenant()
    await system.publish(DEAL_CHANGED, [
        events.changed(tenant.tenant_id, deal_id, source_event_id=f"neighbour-{n}")
        for n, deal_id in enumerate(("D-before", "D-\x00bad", "D-after"))])

    for deal_id in ("D-before", "D-after"):
        await poll_until(lambda deal_id=deal_id: system.admin_fetch(
            "SELECT 1 FROM risk_scores WHERE tenant_id = $1 AND deal_id = $2", tenant.tenant_id, deal_id), timeout=30)
    letters = await system.dead_letters(tenant.tenant_id, "scorer", expected=1)
    assert [letter.dealid for letter in letters] == ["D-\x00bad"]
    assert letters[0].data.original_topic == DEAL_CHANGED.name
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(f"{system.url('scorer')}/healthz")).status_code == 200


def _critical(tenant_id: str, deal_id: str) -> DealScored:
    event = events.scored(tenant_id, deal_id)
    data = event.data.model_copy(update={"risk_score": 82, "risk_category": RiskCategory.CRITICAL})
    return event.model_copy(update={"data": data})


async def test_a_score_verdict_and_alerts_cannot_store_is_dead_lettered_by_each_and_its_neighbours_go_on(
        system: RunningSystem) -> None:
    # A critical score asks verdict for a verdict and alerts for an alert; both fail to store only the NUL one.
    tenant = await system.new_tenant()
    await system.publish(DEAL_SCORED, [_critical(tenant.tenant_id, deal_id)
                                       for deal_id in ("D-before", "D-\x00bad", "D-after")])

    for table in ("verdicts", "alerts"):
        for deal_id in ("D-before", "D-after"):
            await poll_until(lambda table=table, deal_id=deal_id: system.admin_fetch(
                f"SELECT 1 FROM {table} WHERE tenant_id = $1 AND deal_id = $2", tenant.tenant_id, deal_id),
                timeout=30)
    for service in ("verdict", "alerts"):
        letters = await system.dead_letters(tenant.tenant_id, service, expected=1)
        assert [letter.dealid for letter in letters] == ["D-\x00bad"]
        assert letters[0].data.original_topic == DEAL_SCORED.name
