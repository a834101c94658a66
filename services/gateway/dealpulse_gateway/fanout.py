"""The fan-out consumer: scores, verdicts, alerts and deletions from Kafka into each tenant's Redis stream.

Redis, not this process, holds the stream, so every gateway replica's WebSockets see every event whichever replica
consumed it, and a reconnecting dashboard resumes from its last stream id.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dealpulse_common import metrics
from dealpulse_common.backoff import with_backoff
from dealpulse_common.events import CloudEvent, DealScored, utcnow
from dealpulse_common.kafka import Outgoing
from dealpulse_gateway.messages import StreamEntry, dedupe_key, stream_entry, stream_key

log = logging.getLogger(__name__)

# De-duplicate and append in one atomic step. The event id is deterministic, so a batch re-delivered after a crash
# finds its ids already seen. The id is marked seen only after XADD succeeded (a script is not rolled back when a
# later command fails): a failure can at worst repeat an entry on re-delivery, never lose one.
# KEYS: de-duplication key, tenant stream. ARGV: ttl seconds, maxlen, kind, owner, message.
FANOUT_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'kind', ARGV[3], 'owner', ARGV[4],
                      'message', ARGV[5])
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return id
"""

REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class StreamFanout:
    """The StreamProcessor handler: writes each event to its tenant's stream once, publishes nothing to Kafka."""

    def __init__(self, redis: Redis, *, stream_maxlen: int, dedupe_ttl_s: int, retry_for_s: float = 30.0) -> None:
        self._redis = redis
        self._script = redis.register_script(FANOUT_SCRIPT)
        self._stream_maxlen = stream_maxlen
        self._dedupe_ttl_s = dedupe_ttl_s
        # Redis blips are retried here rather than crashing the service; past this, the batch stays uncommitted
        # and the process stops, so its supervisor restarts it and the batch is re-delivered.
        self._retry_for_s = retry_for_s

    async def handle(self, events: list[CloudEvent]) -> list[Outgoing]:
        gateway_at = utcnow()
        batch = [(event, entry) for event in events if (entry := stream_entry(event, gateway_at)) is not None]
        if not batch:
            return []
        stream_ids = await with_backoff(lambda: self._write(batch), REDIS_UNAVAILABLE, self._retry_for_s,
                                        what="the fan-out to Redis")
        fanned_out_at = utcnow()
        for (event, _), stream_id in zip(batch, stream_ids, strict=True):
            if stream_id is None:
                log.debug("duplicate event %s not fanned out again", event.id)
                continue
            # Only scores carry hop timestamps; the histogram is webhook-to-score-on-the-stream.
            received_at = event.data.timing.get("received_at") if isinstance(event, DealScored) else None
            if received_at is not None:
                metrics.WEBHOOK_TO_STREAM.observe(max(0.0, (fanned_out_at - received_at).total_seconds()))
        return []

    async def _write(self, batch: Sequence[tuple[CloudEvent, StreamEntry]]) -> list[str | None]:
        # One round trip per batch; within it the events keep their consumed order, so each deal's updates reach
        # the stream in the order Kafka delivered them.
        async with self._redis.pipeline(transaction=False) as pipe:
            for event, entry in batch:
                fields = entry.fields()
                await self._script(
                    keys=[dedupe_key(event.tenantid, entry.kind, event.id), stream_key(event.tenantid)],
                    args=[self._dedupe_ttl_s, self._stream_maxlen, fields["kind"], fields["owner"],
                          fields["message"]],
                    client=pipe,
                )
            results = await pipe.execute()
        return [_as_str(result) for result in results]


def _as_str(result: object) -> str | None:
    if result is None or result is False:
        return None
    return result.decode() if isinstance(result, bytes) else str(result)
