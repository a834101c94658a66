"""Each deal's latest card in Redis, so an alert raised from a verdict can show the deal's name and amount.

A verdict event carries no deal details; the scored events this service reads anyway do. Losing the cache (a Redis
restart) only makes such an alert plainer, never lost: it then shows the deal id.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from pydantic import ValidationError
from redis.asyncio import Redis

from dealpulse_alerts.deal_card import DealCard
from dealpulse_alerts.redis_guard import REDIS_UNAVAILABLE, RedisGuard
from dealpulse_common.events import DealScored

log = logging.getLogger(__name__)

DealKey = tuple[str, str]  # (tenant_id, deal_id)


def _key(tenant_id: str, deal_id: str) -> str:
    return f"dealpulse:alerts:card:{tenant_id}:{deal_id}"


class DealCardCache:
    def __init__(self, redis: Redis, guard: RedisGuard, ttl: timedelta) -> None:
        self._redis = redis
        self._guard = guard
        self._ttl_ms = int(ttl.total_seconds() * 1000)

    async def remember(self, scored: Sequence[DealScored]) -> None:
        latest = {(e.tenantid, e.dealid): e for e in scored}  # the batch is in order: the last one wins
        if not latest or not self._guard.available():
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for (tenant_id, deal_id), event in latest.items():
                    if event.data.deal.is_closed:
                        pipe.delete(_key(tenant_id, deal_id))
                    else:
                        pipe.set(_key(tenant_id, deal_id), DealCard.from_scored(event.data).model_dump_json(),
                                 px=self._ttl_ms)
                await pipe.execute()
        except REDIS_UNAVAILABLE as exc:
            self._guard.failed(f"caching {len(latest)} deal cards", exc)

    async def recall(self, deals: Sequence[DealKey]) -> dict[DealKey, DealCard]:
        wanted = list(dict.fromkeys(deals))
        if not wanted or not self._guard.available():
            return {}  # alerts then show deal ids only
        try:
            raw = await self._redis.mget([_key(*deal) for deal in wanted])
        except REDIS_UNAVAILABLE as exc:
            self._guard.failed("reading deal cards", exc)
            return {}
        cards: dict[DealKey, DealCard] = {}
        for deal, value in zip(wanted, raw, strict=True):
            if value is None:
                continue
            try:
                cards[deal] = DealCard.model_validate_json(value)
            except ValidationError:
                log.warning("ignoring an unreadable deal card for %s", deal)
        return cards
