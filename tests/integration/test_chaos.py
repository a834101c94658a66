"""Chaos while deal changes stream in through ingest: each service killed with SIGKILL, PostgreSQL and Redis
restarted, the broker frozen, every service stopped and started in turn. Afterwards every change DealPulse
acknowledged is scored and judged exactly once, no alert is raised or delivered twice, and a dashboard that
reconnects with its last stream id has missed nothing.

These tests break shared processes, so they run on a stack of their own (``chaos``, on the suite's ports plus
``CHAOS_PORT_SHIFT``), with a kubelet that restarts whatever exits: nobody acts by hand.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.alert_fakes import SlackFake
from tests.alert_setup import channels, configure_channels, deliveries
from tests.chaos import Kubelet, ResumingDashboard, RetryingCrm, commit_call
from tests.conftest import TEST_PORT_OFFSET
from tests.support import RunningSystem, Tenant, poll_until, suite_system

CHAOS_PORT_SHIFT = 60  # beside the suite's own extra services (tests.support.own_service: +40, +45)
CHAOS_MODEL_DEALS = 2_000  # a smaller demo model than the suite's: these tests are about delivery, not scores
SERVICES = ("ingest", "scorer", "verdict", "alerts", "gateway")
FREEZE_S = 30.0
SETTLE_S = 120.0  # how long the pipeline may take to catch up after the last fault


@pytest.fixture(scope="module")
def chaos(request: pytest.FixtureRequest) -> Iterator[RunningSystem]:
    # Slack's pace of one message a second per channel would stretch the delivery of the test's alerts past it; a
    # quarter of a second still leaves gaps between sends, so a kill -9 rarely lands in the instant between Slack
    # taking a message and its row being marked sent (the one double delivery an outbox cannot rule out).
    with suite_system(request, f"chaos-{os.getpid()}", TEST_PORT_OFFSET + CHAOS_PORT_SHIFT,
                      model_deals=CHAOS_MODEL_DEALS, env={"ALERTS_SLACK_PACE_S": "0.25"}) as running:
        yield running


@pytest.fixture(scope="module")
def kubelet(chaos: RunningSystem) -> Iterator[Kubelet]:
    with Kubelet(chaos).running() as running:
        yield running


async def test_sigkill_of_each_service_mid_stream_loses_and_doubles_nothing(
        chaos: RunningSystem, kubelet: Kubelet, slack: SlackFake) -> None:
    tenant = await _tenant_with_a_slack_channel(chaos, slack, "kill")
    crm, faults_over = RetryingCrm(chaos, tenant), asyncio.Event()
    async with ResumingDashboard(chaos, tenant) as dashboard:
        feed = asyncio.create_task(crm.stream("K", rate_per_s=30, until=faults_over))
        killed, restarts_before = {}, len(kubelet.restarts)
        for service in SERVICES:
            await _after(crm, at_least=crm.sent + 50)
            killed[service] = chaos.supervisor.processes[service].pid
            os.kill(killed[service], signal.SIGKILL)
        for service, pid in killed.items():
            await _restarted(chaos, service, pid)
        assert sorted(kubelet.restarts[restarts_before:]) == sorted((s, -signal.SIGKILL) for s in SERVICES)
        faults_over.set()
        acknowledged = (await feed).acknowledged
        assert len(acknowledged) == crm.sent and not crm.feed.unexpected(), crm.feed.unexpected()
        await _every_change_landed_once(chaos, tenant, acknowledged)
        await _alerted_and_delivered_once(chaos, tenant, slack, acknowledged)
        await poll_until(lambda: _streamed(dashboard, acknowledged), timeout=30, interval=0.2)
    scores = dashboard.scores()
    assert len(scores) == len(set(scores)), Counter(scores).most_common(3)
    assert dashboard.reconnects >= 1  # the gateway's kill dropped the socket and it resumed from its last id


async def test_postgres_and_redis_restarts_mid_stream_recover_by_themselves(chaos: RunningSystem,
                                                                            kubelet: Kubelet) -> None:
    tenant = await chaos.new_tenant("restart")
    crm, faults_over, restarts_before = RetryingCrm(chaos, tenant), asyncio.Event(), len(kubelet.restarts)
    feed = asyncio.create_task(crm.stream("R", rate_per_s=30, until=faults_over))
    await _after(crm, at_least=60)
    await asyncio.to_thread(chaos.stack.restart_postgres)
    await _after(crm, at_least=crm.sent + 60)
    await asyncio.to_thread(chaos.stack.restart_redis)
    await _after(crm, at_least=crm.sent + 30)
    faults_over.set()
    acknowledged = (await feed).acknowledged
    assert len(acknowledged) == crm.sent and not crm.feed.unexpected(), crm.feed.unexpected()
    await _every_change_landed_once(chaos, tenant, acknowledged)
    await _all_ready(chaos)
    assert kubelet.restarts[restarts_before:] == []  # the outages were waited out, nothing crashed on them


async def test_a_frozen_broker_is_answered_with_503_and_nothing_acknowledged_is_lost(chaos: RunningSystem,
                                                                                     kubelet: Kubelet) -> None:
    tenant = await chaos.new_tenant("freeze")
    crm, faults_over = RetryingCrm(chaos, tenant, give_up_after_s=FREEZE_S + 60), asyncio.Event()
    restarts_before = len(kubelet.restarts)
    feed = asyncio.create_task(crm.stream("F", rate_per_s=10, until=faults_over))
    await _after(crm, at_least=30)
    broker = chaos.stack.broker_pid()
    os.kill(broker, signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        await asyncio.sleep(FREEZE_S)
    finally:
        os.kill(broker, signal.SIGCONT)
    thawed_at = time.monotonic()
    faults_over.set()
    acknowledged = (await feed).acknowledged

    # A request that reached ingest once the broker was frozen (past the publish timeout of those in flight) got a
    # 503 with Retry-After, never a 2xx.
    during = crm.feed.between(frozen_at + 0.5, thawed_at)
    assert any(answer.status == 503 for answer in during), Counter(a.status for a in during)
    assert {answer.status for answer in during} <= {503, None}, Counter(a.status for a in during)
    assert all(answer.retry_after for answer in during if answer.status == 503)
    assert len(acknowledged) == crm.sent and not crm.feed.unexpected(), crm.feed.unexpected()
    await _every_change_landed_once(chaos, tenant, acknowledged)
    assert kubelet.restarts[restarts_before:] == []  # every service waited the freeze out


async def test_a_rolling_restart_of_every_service_mid_stream_loses_nothing(chaos: RunningSystem,
                                                                           kubelet: Kubelet) -> None:
    tenant = await chaos.new_tenant("rolling")
    crm, faults_over = RetryingCrm(chaos, tenant), asyncio.Event()
    feed = asyncio.create_task(crm.stream("S", rate_per_s=30, until=faults_over))
    for service in SERVICES:
        await _after(crm, at_least=crm.sent + 30)
        with kubelet.hands_off():
            code = await asyncio.to_thread(chaos.supervisor.stop, service, signal.SIGTERM, 30.0)
            chaos.supervisor.start(service)
        # uvicorn re-raises SIGTERM once its graceful shutdown is done; -SIGKILL would mean it did not stop in time.
        assert code in (0, -signal.SIGTERM), f"{service} exited with {code} on SIGTERM"
        await asyncio.to_thread(chaos.supervisor.wait_ready, [service], 60.0)
    faults_over.set()
    acknowledged = (await feed).acknowledged
    assert len(acknowledged) == crm.sent and not crm.feed.unexpected(), crm.feed.unexpected()
    await _every_change_landed_once(chaos, tenant, acknowledged)


# ---------------------------------------------------------------- given, when, then


async def _tenant_with_a_slack_channel(system: RunningSystem, slack: SlackFake, prefix: str) -> Tenant:
    tenant = await system.new_tenant(prefix)
    body = channels(slack, None, webhook=tenant.tenant_id, dm=False)
    body["slack"]["channel_min_severity"] = "medium"  # "commit not admitted" is medium
    answer = await configure_channels(system, tenant, body)
    assert answer.status_code == 200, answer.text
    return tenant


async def _after(crm: RetryingCrm, *, at_least: int) -> None:
    """Once the CRM has started ``at_least`` changes."""
    async def enough() -> bool:
        return crm.sent >= at_least

    await poll_until(enough, timeout=60, interval=0.05)


async def _restarted(system: RunningSystem, service: str, old_pid: int) -> None:
    async def new_process() -> bool:
        process = system.supervisor.processes.get(service)
        return process is not None and process.pid != old_pid

    await poll_until(new_process, timeout=20, interval=0.1)
    await asyncio.to_thread(system.supervisor.wait_ready, [service], 60.0)


async def _all_ready(system: RunningSystem) -> None:
    await asyncio.to_thread(system.supervisor.wait_ready, list(SERVICES), 60.0)


async def _every_change_landed_once(system: RunningSystem, tenant: Tenant, deals: set[str]) -> None:
    """Each deal scored and judged exactly once, in the history tables and the read models."""
    await poll_until(lambda: system.has_rows("verdicts", tenant, len(deals)), timeout=SETTLE_S, interval=0.5)
    for table in ("risk_scores", "verdicts", "deal_risk", "deal_verdict"):
        rows = await system.admin_fetch(
            f"SELECT deal_id, count(*) AS n FROM {table} WHERE tenant_id = $1 GROUP BY deal_id", tenant.tenant_id)
        per_deal = {row["deal_id"]: row["n"] for row in rows}
        assert per_deal == dict.fromkeys(deals, 1), (table, _difference(per_deal, deals))


def _difference(per_deal: dict[str, int], deals: set[str]) -> dict[str, object]:
    return {"missing": sorted(deals - set(per_deal))[:5], "extra": sorted(set(per_deal) - deals)[:5],
            "twice": sorted(d for d, n in per_deal.items() if n > 1)[:5]}


async def _alerted_and_delivered_once(system: RunningSystem, tenant: Tenant, slack: SlackFake,
                                      deals: set[str]) -> None:
    """One "commit not admitted" alert per deal its rep called Commit, every alert at most once per deal and type,
    and each delivered to the channel once."""
    called = {deal for deal in deals if commit_call(int(deal.rsplit("-", 1)[1]))}

    async def raised() -> list[dict[str, object]] | None:
        rows = await system.admin_fetch("SELECT deal_id, alert_type FROM alerts WHERE tenant_id = $1",
                                        tenant.tenant_id)
        found = [dict(row) for row in rows]
        return found if sum(row["alert_type"] == "commit_not_admitted" for row in found) >= len(called) else None

    alerts = await poll_until(raised, timeout=SETTLE_S, interval=0.5)
    per_type = Counter((row["deal_id"], row["alert_type"]) for row in alerts)
    assert max(per_type.values()) == 1, per_type.most_common(3)
    assert {deal for deal, kind in per_type if kind == "commit_not_admitted"} == called

    async def settled() -> list[dict[str, object]] | None:
        rows = await deliveries(system, tenant)
        return rows if len(rows) >= len(alerts) and all(r["status"] == "sent" for r in rows) else None

    sent = await poll_until(settled, timeout=SETTLE_S, interval=0.5)
    assert len(sent) == len(alerts)
    posts = Counter(p.delivery_id for p in slack.delivered(f"/webhook/{tenant.tenant_id}"))
    assert posts == Counter({row["delivery_id"]: 1 for row in sent})


async def _streamed(dashboard: ResumingDashboard, deals: set[str]) -> bool:
    return {m["event"]["dealid"] for m in dashboard.messages if m["kind"] == "score"} >= deals
