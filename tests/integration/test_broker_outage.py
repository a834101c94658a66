"""A broker outage while the stream processors have work in hand: they wait it out, lose nothing, keep running.

Needs the ``system`` fixture (tests/conftest.py): the embedded stack with the services running.
"""

from __future__ import annotations

import asyncio
import os
import signal

import httpx

from dealpulse_common.topics import DEAL_CHANGED
from tests import events
from tests.support import RunningSystem, Tenant, poll_until

CHANGES = 2_000
FROZEN_S = 5.0  # longer than a publish may wait for its acknowledgement (KAFKA_PUBLISH_TIMEOUT_S, 2 s)




async def test_processors_wait_out_a_frozen_broker_mid_batch(system: RunningSystem) -> None:
    tenant = await system.new_tenant("outage")
    await system.publish(DEAL_CHANGED, [
        events.changed(tenant.tenant_id, f"D-{n}", owner_id="rep-1", source_event_id=f"outage-{n}")
        for n in range(CHANGES)])

    # Freeze the broker while scores are being written and published.
    await poll_until(lambda: _between(system, tenant, 1, CHANGES // 2), timeout=60, interval=0.05)
    broker = system.stack.broker_pid()
    os.kill(broker, signal.SIGSTOP)
    try:
        await asyncio.sleep(FROZEN_S)
    finally:
        os.kill(broker, signal.SIGCONT)

    # Every change is scored and judged once, and every processor is still up.
    await poll_until(lambda: system.has_rows("deal_risk", tenant, CHANGES), timeout=120, interval=0.5)
    await poll_until(lambda: system.has_rows("deal_verdict", tenant, CHANGES), timeout=120, interval=0.5)
    assert await system.count_rows("risk_scores", tenant) == CHANGES
    assert await system.count_rows("verdicts", tenant) == CHANGES
    async with httpx.AsyncClient(timeout=5) as client:
        for service in ("scorer", "verdict", "alerts", "gateway"):
            assert (await client.get(f"{system.url(service)}/healthz")).status_code == 200, service


async def _between(system: RunningSystem, tenant: Tenant, low: int, high: int) -> bool | None:
    scored = await system.count_rows("deal_risk", tenant)
    if scored > high:
        raise AssertionError(f"{scored} of {CHANGES} scored before the freeze: the test would prove nothing")
    return True if scored >= low else None

