"""The demo CRM that `make run` starts really feeds the system: its deals come out scored."""

from __future__ import annotations

import asyncio

import pytest

from dealpulse_cli.demo_feed import DemoCrm
from tests.support import RunningSystem, poll_until

pytestmark = pytest.mark.e2e


async def test_demo_feed_deals_are_accepted_and_scored(system: RunningSystem) -> None:
    tenant = await system.new_tenant("demo")
    crm = DemoCrm(system.url("ingest"), tenant.tenant_id, tenant.webhook_secret, seed=5)
    stop = asyncio.Event()
    feed = asyncio.create_task(crm.run(initial_deals=20, rate_per_s=20, stop=stop))
    try:
        await poll_until(lambda: _scored_deals(system, tenant.tenant_id, at_least=20), timeout=30)
        changed = await poll_until(lambda: _rescored_deals(system, tenant.tenant_id), timeout=30)
    finally:
        stop.set()
        await feed
    assert crm.rejected == 0, "the demo CRM sent changes ingest refused"
    assert changed, "no deal was changed and scored again by the running feed"


async def _scored_deals(system: RunningSystem, tenant_id: str, at_least: int) -> bool:
    rows = await system.admin_fetch("SELECT count(*) AS n FROM deal_risk WHERE tenant_id = $1", tenant_id)
    return rows[0]["n"] >= at_least


async def _rescored_deals(system: RunningSystem, tenant_id: str) -> list:
    return await system.admin_fetch(
        "SELECT deal_id FROM risk_scores WHERE tenant_id = $1 GROUP BY deal_id HAVING count(*) > 1", tenant_id)
