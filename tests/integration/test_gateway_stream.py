"""The gateway's live stream: tenant- and owner-scoped, each event once, resumable with last_id.

Events are published straight onto the scored/verdict/alert topics, so each test controls ids and owners exactly.
Needs the ``system`` fixture (tests/conftest.py): the embedded stack with the services running.
"""

from __future__ import annotations

import asyncio

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from dealpulse_common.auth import issue_token
from dealpulse_common.settings import ServiceSettings
from dealpulse_common.topics import DEAL_ALERTS, DEAL_CHANGED, DEAL_SCORED, DEAL_VERDICT
from dealpulse_gateway.messages import parse_stream_id
from tests import events
from tests.support import RunningSystem, add_team


async def test_each_token_sees_only_its_tenant_and_a_rep_only_their_deals(system: RunningSystem) -> None:
    # Given two tenants whose reps happen to share a user id, a manager of both of tenant A's reps, and three
    # dashboards
    tenant_a, tenant_b = await system.new_tenant("gwa"), await system.new_tenant("gwb")
    await add_team(system, tenant_a, "manager-1", "rep-1", "rep-2")
    rep = await system.stream(tenant_a, "rep", "rep-1")
    manager = await system.stream(tenant_a, "manager", "manager-1")
    other_tenant = await system.stream(tenant_b, "admin", "admin-1")
    try:
        a, b = tenant_a.tenant_id, tenant_b.tenant_id
        own_score, own_alert = events.scored(a, "D1", "rep-1"), events.alert(a, "D1", "rep-1")
        others_score, others_verdict = events.scored(a, "D2", "rep-2"), events.verdict(a, "D2", "rep-2")
        b_score = events.scored(b, "D1", "rep-1")
        others_deletion = events.changed(a, "D2", "rep-2", deleted=True)
        # When scores, a verdict, an alert and a deletion of both tenants flow through the topics
        await system.publish(DEAL_SCORED, [own_score, others_score, b_score])
        await system.publish(DEAL_VERDICT, [others_verdict])
        await system.publish(DEAL_ALERTS, [own_alert])
        await system.publish(DEAL_CHANGED, [others_deletion])

        # Then the manager sees their team's deals of tenant A, each as a frame with the stream id first
        seen = await manager.until_ids({own_score.id, others_score.id, others_verdict.id, own_alert.id,
                                          others_deletion.id})
        assert next(m for m in seen if m["event"]["id"] == others_deletion.id)["kind"] == "deleted"
        assert all(m["event"]["tenantid"] == a for m in seen)
        frame = next(m for m in seen if m["event"]["id"] == own_score.id)
        assert list(frame)[:3] == ["id", "kind", "event"] and frame["kind"] == "score"
        assert frame["event"]["data"]["risk_score"] == own_score.data.risk_score
        # ... the rep only the deal they own
        rep_seen = await rep.until_ids({own_score.id, own_alert.id})
        rep_seen += await rep.collect(1.0)
        assert {m["event"]["dealid"] for m in rep_seen} == {"D1"}
        assert all(m["event"]["tenantid"] == a for m in rep_seen)
        # ... and tenant B only its own deal, although its deal id and owner match tenant A's
        b_seen = await other_tenant.until_ids({b_score.id})
        b_seen += await other_tenant.collect(1.0)
        assert all(m["event"]["tenantid"] == b for m in b_seen)
    finally:
        for stream in (rep, manager, other_tenant):
            await stream.close()


async def test_a_redelivered_event_is_streamed_once(system: RunningSystem) -> None:
    tenant = await system.new_tenant("gwdup")
    stream = await system.stream(tenant, "admin", "admin-1")
    try:
        event = events.scored(tenant.tenant_id, "D-dup", "rep-1")
        # Twice in one batch, then again in a later batch: what a crash before the commit looks like
        await system.publish(DEAL_SCORED, [event, event])
        await stream.until_ids({event.id})
        await system.publish(DEAL_SCORED, [event])
        later = await stream.collect(2.0)
        assert [m for m in later if m["event"]["id"] == event.id] == []
    finally:
        await stream.close()


async def test_reconnect_with_last_id_resumes_exactly_after_it(system: RunningSystem) -> None:
    tenant = await system.new_tenant("gwres")
    watcher = await system.stream(tenant, "admin", "watcher")
    first_session = await system.stream(tenant, "admin", "admin-1")
    try:
        # One deal, so one partition: the three scores reach the stream in the order they were published.
        first, second, third = (events.scored(tenant.tenant_id, "D-resume", "rep-1") for _ in range(3))
        await system.publish(DEAL_SCORED, [first])
        [received] = [m for m in await first_session.until_ids({first.id}) if m["event"]["id"] == first.id]
        await first_session.close()
        # While the dashboard is away, two more scores arrive
        await system.publish(DEAL_SCORED, [second, third])
        await watcher.until_ids({first.id, second.id, third.id})

        resumed = await system.stream(tenant, "admin", "admin-1", last_id=received["id"])
        try:
            messages = await resumed.until_ids({second.id, third.id})
        finally:
            await resumed.close()
        scores = [m["event"]["id"] for m in messages if m["kind"] == "score"]
        assert scores == [second.id, third.id]
        assert all(parse_stream_id(m["id"]) > parse_stream_id(received["id"]) for m in messages)
    finally:
        await watcher.close()


@pytest.mark.parametrize("query", ["token=not.a.jwt", "", "token={token}&last_id=not-an-id"])
async def test_bad_token_or_resume_point_closes_the_socket_with_a_code(system: RunningSystem, query: str) -> None:
    tenant = await system.new_tenant("gwbad")
    url = f"{system.ws_url()}?{query.format(token=system.token(tenant))}"
    async with websockets.connect(url, open_timeout=10) as connection:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(connection.recv(), 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == (4400 if "last_id" in query else 4401)


async def test_socket_is_closed_when_its_token_expires(system: RunningSystem) -> None:
    tenant = await system.new_tenant("gwexp")
    token = issue_token(ServiceSettings().jwt_secret, tenant.tenant_id, "admin", "admin-1", ttl_s=2)
    async with websockets.connect(f"{system.ws_url()}?token={token}", open_timeout=10) as connection:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(connection.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_stream_metrics_are_exported(system: RunningSystem) -> None:
    tenant = await system.new_tenant("gwmet")
    stream = await system.stream(tenant, "admin", "admin-1")
    try:
        event = events.scored(tenant.tenant_id, "D-met", "rep-1")
        await system.publish(DEAL_SCORED, [event])
        await stream.until_ids({event.id})
        exposed = {(sample.name, sample.labels.get("kind")) for family in await system.metric_families("gateway")
                   for sample in family.samples}
    finally:
        await stream.close()
    assert ("dealpulse_stream_connections", None) in exposed
    assert ("dealpulse_stream_messages_total", "score") in exposed
    assert ("dealpulse_webhook_to_stream_seconds_count", None) in exposed
