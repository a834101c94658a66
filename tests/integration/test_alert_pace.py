"""Slack's one message a second per channel holds across alerts replicas: the pace of a channel lives in Redis, and
a Retry-After that one replica was given holds the channel for all of them."""

from __future__ import annotations

import asyncio
import itertools
import uuid

from redis.asyncio import Redis

from dealpulse_alerts.channel_pace import ChannelPace
from dealpulse_alerts.delivery import DeliveryConfig, DeliveryWorker
from dealpulse_alerts.pacing import RetryPolicy
from dealpulse_alerts.redis_guard import RedisGuard
from dealpulse_alerts.senders import Senders
from dealpulse_common.db import create_pool
from tests.alert_fakes import SlackFake, free_port
from tests.alert_setup import (
    OWNER,
    channels,
    configure_channels,
    critical_score,
    publish_scores,
    settled,
    tenant_with_team,
)
from tests.support import RunningSystem, poll_until

PACE_S = 1.0  # the suite's ALERTS_SLACK_PACE_S (the default)


async def test_replicas_share_a_channels_slot_and_the_retry_after_one_of_them_was_given(
        system: RunningSystem) -> None:
    redis = Redis.from_url(system.stack.redis_url)
    try:
        first, second = (ChannelPace(redis, RedisGuard(5.0), PACE_S) for _ in range(2))
        channel = f"webhook:{uuid.uuid4().hex}"
        assert await first.take(channel) == 0.0
        assert 0.0 < await second.take(channel) <= PACE_S, "the slot the first took is not the second's"
        await second.hold(channel, 30.0)
        assert 29.0 < await first.take(channel) <= 30.0, "Slack's Retry-After holds the channel for every replica"
        assert await first.take(f"webhook:{uuid.uuid4().hex}") == 0.0, "another channel has its own pace"
        assert await first.take(None) == 0.0, "e-mail has no pace"
    finally:
        await redis.aclose()


async def test_without_redis_the_pace_lets_sends_through_and_rests_redis() -> None:
    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5, socket_connect_timeout=0.5)
    guard = RedisGuard(60.0)
    try:
        assert await ChannelPace(redis, guard, PACE_S).take("webhook:any") == 0.0
        assert not guard.available(), "Redis is skipped for the cool-down rather than asked per send"
    finally:
        await redis.aclose()


async def test_three_workers_write_to_one_channel_one_message_a_second(system: RunningSystem,
                                                                       slack: SlackFake) -> None:
    """The service's own worker and two more in this process, each with its own pace object, as replicas are."""
    tenant = await tenant_with_team(system, "pace")
    await configure_channels(system, tenant, channels(slack, None, webhook=tenant.tenant_id, dm=False))
    pool = await create_pool(system.stack.database_url)
    redis = Redis.from_url(system.stack.redis_url)
    stop = asyncio.Event()
    workers = [DeliveryWorker(pool, Senders(slack.url + "/api/", 5.0), ChannelPace(redis, RedisGuard(5.0), PACE_S),
                              DeliveryConfig(RetryPolicy(), poll_interval_s=0.05)) for _ in range(2)]
    tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
    try:
        await publish_scores(system, [critical_score(tenant, f"D-{n}", OWNER.user_id) for n in range(4)])
        await poll_until(lambda: settled(system, tenant, 4), timeout=60)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await redis.aclose()
        await pool.close()
    posts = sorted(slack.delivered(f"/webhook/{tenant.tenant_id}"), key=lambda post: post.received_at)
    assert len(posts) == 4
    gaps = [later.received_at - earlier.received_at for earlier, later in itertools.pairwise(posts)]
    assert min(gaps) >= 0.5 * PACE_S, gaps  # unshared, three workers would send within milliseconds
