"""The embedded stack's log rotation (``dealpulse run`` empties the broker's topics once they are read) loses no
accepted change, keeps the dead letters, and the live feed goes on without its dashboard reconnecting."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from dealpulse_cli.log_rotation import LogRotation
from dealpulse_common.topics import DEAL_CHANGED
from tests.support import RunningSystem, StreamClient, Tenant, deal_change, poll_until

pytestmark = pytest.mark.e2e


async def test_rotation_empties_the_topics_and_every_accepted_change_is_scored(system: RunningSystem) -> None:
    tenant = await system.new_tenant("rotation")
    stream = await system.stream(tenant)
    try:
        before = await _send(system, tenant, [f"before-{n}" for n in range(20)])
        await _all_scored(system, tenant, before)
        poison = b"{not json " + uuid.uuid4().hex.encode()
        await system.publish_bytes(DEAL_CHANGED, f"{tenant.tenant_id}:poison", [poison])
        await system.dead_letters(tenant.tenant_id, "scorer", expected=1)

        rotation = LogRotation(system.stack.kafka_bootstrap, system.supervisor, rotate_after=1)
        stored_before = sum((await rotation.log_ends()).values())
        # A CRM keeps sending while the logs are emptied: nothing pauses it.
        during, done = [], asyncio.Event()
        sender = asyncio.create_task(_keep_sending(system, tenant, during, done))
        try:
            assert await rotation.rotate() is not None, "the services never read their topics to the end"
        finally:
            done.set()
            await sender
        stored_right_after = sum((await rotation.log_ends()).values())

        after = await _send(system, tenant, [f"after-{n}" for n in range(20)])
        await _all_scored(system, tenant, before + during + after)
        # The same socket, never reconnected, carries the scores of changes sent after the rotation.
        await _scores_arrive(stream, set(after))
    finally:
        await stream.close()

    assert stored_before >= 20 * 3, "the topics held less than the changes sent before the rotation"
    assert stored_right_after < stored_before / 2, "the rotation left the topics' records in place"
    assert during, "no change was accepted while the rotation ran"
    letters = await system.dead_letters(tenant.tenant_id, "scorer", expected=1)
    assert poison in {base64.b64decode(letter.data.original_value_b64) for letter in letters}, \
        "the dead letter written before the rotation is gone"


async def _send(system: RunningSystem, tenant: Tenant, deal_ids: list[str]) -> list[str]:
    for deal_id in deal_ids:
        response = await system.send_change(tenant, _change(deal_id))
        assert response.status_code == 202, response.text
    return deal_ids


def _change(deal_id: str) -> dict[str, object]:
    return deal_change(deal_id, datetime.now(UTC).isoformat(), name=f"Deal {deal_id}", amount=20_000,
                       stage="Proposal", expected_close_date="2027-02-01")


async def _keep_sending(system: RunningSystem, tenant: Tenant, accepted: list[str], done: asyncio.Event) -> None:
    """One change every 0.2 s until ``done``; the deal ids answered 202 are added to ``accepted``."""
    n = 0
    while not done.is_set():
        deal_id = f"during-{n}"
        try:
            response = await system.send_change(tenant, _change(deal_id))
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code == 202:
            accepted.append(deal_id)
        n += 1
        await asyncio.sleep(0.2)


async def _all_scored(system: RunningSystem, tenant: Tenant, deal_ids: list[str]) -> None:
    async def scored() -> bool:
        rows = await system.admin_fetch("SELECT deal_id FROM deal_risk WHERE tenant_id = $1", tenant.tenant_id)
        return set(deal_ids) <= {row["deal_id"] for row in rows}

    await poll_until(scored, timeout=60, interval=0.3)


async def _scores_arrive(stream: StreamClient, deal_ids: set[str]) -> None:
    pending = set(deal_ids)
    async with asyncio.timeout(30):
        while pending:
            message = await stream.next_message(30)
            if message["kind"] == "score":
                pending.discard(message["event"]["data"]["deal"]["deal_id"])
