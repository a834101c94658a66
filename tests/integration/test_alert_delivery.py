"""Alert delivery against real local receivers: the Slack fake (webhook + Web API) and an aiosmtpd SMTP server.

A critical crossing reaches the tenant's Slack channel, the owner's and manager's DMs and their mailboxes exactly
once each; 429 with Retry-After, then 500, then 200 is delivered once on the third try; a delivery past its retry
budget is failed with the reason; several delivery workers at once send each delivery once.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from redis.asyncio import Redis

from dealpulse_alerts.channel_pace import ChannelPace
from dealpulse_alerts.delivery import DeliveryConfig, DeliveryWorker
from dealpulse_alerts.pacing import RetryPolicy
from dealpulse_alerts.redis_guard import RedisGuard
from dealpulse_alerts.senders import Senders
from dealpulse_common.db import create_pool
from tests.alert_fakes import SlackFake, SmtpSink, slack_user_id
from tests.alert_setup import (
    OWNER,
    channels,
    configure_channels,
    critical_score,
    deliveries,
    email_of,
    publish_scores,
    settled,
    tenant_with_team,
)
from tests.support import Person, RunningSystem, add_users, poll_until


async def test_a_critical_crossing_reaches_slack_and_email_exactly_once_each(
        system: RunningSystem, slack: SlackFake, smtp: SmtpSink) -> None:
    tenant = await tenant_with_team(system, "deliver")
    answer = await configure_channels(system, tenant, channels(slack, smtp, webhook=tenant.tenant_id))
    assert answer.status_code == 200, answer.text
    assert "xoxb" not in answer.text and "test-signing-secret" not in answer.text  # secrets never echoed

    await publish_scores(system, [critical_score(tenant, "D-1", OWNER.user_id)])

    # webhook + DM and e-mail to the owner and to the owner's manager (from users.manager_id)
    rows = await poll_until(lambda: settled(system, tenant, 5), timeout=30)
    assert Counter((row["channel"], row["status"]) for row in rows) == {
        ("slack_webhook", "sent"): 1, ("slack_dm", "sent"): 2, ("email", "sent"): 2}
    ids = {row["delivery_id"] for row in rows}
    webhook_posts = [p for p in slack.delivered(f"/webhook/{tenant.tenant_id}") if p.delivery_id in ids]
    dm_posts = [p for p in slack.delivered("/api/chat.postMessage") if p.delivery_id in ids]
    assert len(webhook_posts) == 1
    assert sorted(p.body["channel"] for p in dm_posts) == sorted(
        f"D-{slack_user_id(f'{name}+{tenant.tenant_id}@example.test')}" for name in ("ann", "bo"))
    assert webhook_posts[0].body["blocks"][0]["type"] == "header"
    for name in ("ann", "bo"):
        mails = smtp.to(f"{name}+{tenant.tenant_id}@example.test")
        assert len(mails) == 1
        assert mails[0].message["Subject"] == "[DealPulse] Critical risk: Deal D-1"
        assert "Stalled" in mails[0].part("text/plain") and "<b>Stalled</b>" in mails[0].part("text/html")
        assert mails[0].message["Message-ID"].strip("<>").split("@")[0] in ids


async def test_429_with_retry_after_then_500_then_200_is_delivered_once_on_the_third_try(
        system: RunningSystem, slack: SlackFake) -> None:
    tenant = await tenant_with_team(system, "retry")
    path = f"/webhook/{tenant.tenant_id}"
    slack.fail_next(path, (429, {"Retry-After": "1"}), (500, {}))
    await configure_channels(system, tenant, channels(slack, None, webhook=tenant.tenant_id, dm=False))

    await publish_scores(system, [critical_score(tenant, "D-1", OWNER.user_id)])

    [row] = await poll_until(lambda: settled(system, tenant, 1), timeout=30)
    assert (row["status"], row["attempts"]) == ("sent", 3)
    assert [p.status for p in slack.posts if p.path == path] == [429, 500, 200]


async def test_a_delivery_past_its_retry_budget_is_failed_with_the_reason(
        system: RunningSystem, slack: SlackFake) -> None:
    tenant = await tenant_with_team(system, "budget")
    path = f"/webhook/{tenant.tenant_id}"
    slack.fail_next(path, *[(500, {})] * 4)  # the suite's budget: ALERTS_DELIVERY_MAX_ATTEMPTS=4
    await configure_channels(system, tenant, channels(slack, None, webhook=tenant.tenant_id, dm=False))

    await publish_scores(system, [critical_score(tenant, "D-1", OWNER.user_id)])

    [row] = await poll_until(lambda: settled(system, tenant, 1), timeout=30)
    assert (row["status"], row["attempts"]) == ("failed", 4)
    assert "gave up after 4 attempts" in row["last_error"] and "500" in row["last_error"]
    assert not slack.delivered(path)


async def test_three_workers_at_once_send_each_delivery_once(system: RunningSystem, slack: SlackFake,
                                                             smtp: SmtpSink) -> None:
    """The service's own worker and two more in this process, on the same rows."""
    tenant = await tenant_with_team(system, "workers")
    await configure_channels(system, tenant, channels(None, smtp))
    pool = await create_pool(system.stack.database_url)
    redis = Redis.from_url(system.stack.redis_url)
    stop = asyncio.Event()
    workers = [DeliveryWorker(pool, Senders(slack.url + "/api/", 5.0), ChannelPace(redis, RedisGuard(5.0), 1.0),
                              DeliveryConfig(RetryPolicy(), poll_interval_s=0.05)) for _ in range(2)]
    tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
    try:
        await publish_scores(system, [critical_score(tenant, f"D-{n}", OWNER.user_id) for n in range(10)])
        rows = await poll_until(lambda: settled(system, tenant, 20), timeout=60)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await redis.aclose()
        await pool.close()
    assert Counter(row["status"] for row in rows) == {"sent": 20}
    received = Counter(mail.message["X-DealPulse-Delivery"] for mail in smtp.inbox)
    assert {delivery: received[delivery] for delivery in (row["delivery_id"] for row in rows)} == {
        row["delivery_id"]: 1 for row in rows}


async def test_no_channel_configured_means_no_delivery_and_the_alert_is_still_stored(system: RunningSystem) -> None:
    tenant = await tenant_with_team(system, "nochannel")
    await publish_scores(system, [critical_score(tenant, "D-1", OWNER.user_id)])
    await poll_until(lambda: system.has_rows("alerts", tenant, 1), timeout=30)
    assert await deliveries(system, tenant) == []


async def test_a_test_alert_reports_what_happened_on_each_channel(system: RunningSystem, slack: SlackFake,
                                                                 smtp: SmtpSink) -> None:
    tenant = await tenant_with_team(system, "testalert")
    admin = Person("test-admin", email_of("admin", tenant), role="admin")  # the user of system.token(tenant)
    await add_users(system, tenant, admin)
    slack.fail_next(f"/webhook/{tenant.tenant_id}", *[(404, {})])  # a webhook Slack no longer knows
    await configure_channels(system, tenant, channels(slack, smtp, webhook=tenant.tenant_id, dm=False))
    async with httpx.AsyncClient(timeout=40) as client:
        answer = await client.post(f"{system.url('gateway')}/v1/admin/alert-channels/test",
                                   headers={"authorization": f"Bearer {system.token(tenant)}"})
    assert answer.status_code == 200, answer.text
    report = {d["channel"]: d for d in answer.json()["deliveries"]}
    assert (report["email"]["status"], report["slack_webhook"]["status"]) == ("sent", "failed")
    assert "404" in report["slack_webhook"]["last_error"]
    assert [mail.message["Subject"] for mail in smtp.to(admin.email)] == ["[DealPulse] Test alert"]
