"""``kill -9`` of a stream processor in the middle of a stream: restarted, it loses nothing and doubles nothing.

Needs the ``system`` fixture (tests/conftest.py): the embedded stack with the services running.
"""

from __future__ import annotations

import signal

import pytest

from dealpulse_common.topics import DEAL_CHANGED
from tests import events
from tests.support import RunningSystem, Tenant, poll_until

CHANGES = 2_000
# Where each service's exactly-once shows: one row per upstream event in its history table.
HISTORY = {"scorer": "risk_scores", "verdict": "verdicts"}




@pytest.mark.parametrize("service", sorted(HISTORY))
async def test_a_killed_processor_restarts_and_every_change_lands_once(system: RunningSystem, service: str) -> None:
    tenant = await system.new_tenant("crash")
    await system.publish(DEAL_CHANGED, [
        events.changed(tenant.tenant_id, f"D-{n}", owner_id="rep-1", source_event_id=f"crash-{n}")
        for n in range(CHANGES)])

    table = HISTORY[service]
    await poll_until(lambda: _some_but_not_all(system, table, tenant), timeout=60, interval=0.05)
    system.supervisor.processes[service].send_signal(signal.SIGKILL)
    system.supervisor.processes[service].wait(timeout=10)
    assert system.supervisor.restart_exited() == [(service, -signal.SIGKILL)]
    system.supervisor.wait_ready([service], timeout=60)

    for history in ("risk_scores", "verdicts"):
        await poll_until(lambda table=history: system.has_rows(table, tenant, CHANGES), timeout=120, interval=0.5)
    assert await system.count_rows("risk_scores", tenant) == CHANGES
    assert await system.count_rows("verdicts", tenant) == CHANGES
    assert await system.count_rows("deal_risk", tenant) == CHANGES


async def _some_but_not_all(system: RunningSystem, table: str, tenant: Tenant) -> bool | None:
    done = await system.count_rows(table, tenant)
    if done >= CHANGES:
        raise AssertionError(f"all {CHANGES} were handled before the kill: the test would prove nothing")
    return True if done > 0 else None

