"""A demo CRM: one tenant's synthetic world (``dealpulse_scorer.training.feed``) replayed as signed generic
webhooks, so live traffic is drawn from the same process as the demo model's training set.

Each cycle replays the deliveries of a fresh sample (new deal ids) from the tenant's connection to the world's
anchor, time-shifted by whole days so the anchor is today's midnight, at the feed rate; the next cycle first closes
the deals the previous one left open, with their drawn outcomes, so a long run keeps a bounded open pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import orjson

from dealpulse_cli.webhook_client import WEBHOOK_PATH, webhook_headers
from dealpulse_common.deal import ForecastCategory
from dealpulse_scorer.training.feed import TenantFeed, tenant_feed
from dealpulse_scorer.training.life import close_change
from dealpulse_scorer.training.synthetic import ANCHOR, demo_anchor
from dealpulse_scorer.training.world import CRM_FORECAST_NAMES

log = logging.getLogger(__name__)

# Webhooks sent and not yet answered. Sent one at a time, the feed ran at one over the answer time (36 a second at
# a nominal 50 while the system was busy). A deal's next change is hundreds of deliveries later in a replay, so
# answers overtaking each other do not reorder one deal's changes.
IN_FLIGHT = 8

DEMO_PROFILE = "demo"  # the world's tenant whose CRM the demo feed plays
_INSTANTS = frozenset({"created_at", "closed_at", "last_activity_at"})
_INGEST_DERIVED = frozenset({"crm_stage", "stage_unmapped"})  # ingest sets these from the CRM's stage name


def webhook_body(deal_id: str, modified_at: datetime, change: Mapping[str, Any], shift: timedelta) -> dict[str, Any]:
    """A canonical change as the CRM sends it to the generic webhook: its own stage and forecast names, every
    moment moved by ``shift`` (whole days, so dates and instants stay in step)."""
    body: dict[str, Any] = {"deal_id": deal_id, "modified_at": (modified_at + shift).isoformat()}
    for key, value in change.items():
        if key in _INGEST_DERIVED:
            continue
        if key == "stage":
            value = change["crm_stage"]
        elif key == "forecast_category":
            value = CRM_FORECAST_NAMES[ForecastCategory(value)]
        elif key in _INSTANTS and value is not None:
            value = (datetime.fromisoformat(value) + shift).isoformat()
        elif key == "expected_close_date":
            value = (date.fromisoformat(value) + shift).isoformat()
        elif key == "history" and "stage_entered_at" in value:
            value = {**value, "stage_entered_at": (datetime.fromisoformat(value["stage_entered_at"]) + shift)
                     .isoformat()}
        body[key] = value
    return body


def shift_to_today(anchor: datetime = ANCHOR, now: datetime | None = None) -> timedelta:
    """Whole days from ``anchor`` to today's date: the world's anchor becomes today's midnight, never the future."""
    today = (now or datetime.now(UTC)).date()
    return timedelta(days=(today - anchor.date()).days)


class DemoCrm:
    def __init__(self, ingest_url: str, tenant_id: str, secret: str, seed: int = 11,
                 profile: str = DEMO_PROFILE) -> None:
        self._url = f"{ingest_url}{WEBHOOK_PATH}"
        self._tenant_id = tenant_id
        self._secret = secret
        self._seed = seed
        self._profile = profile
        self.rejected = 0
        self.sent = 0
        self.cycles_completed = 0  # replays that reached the anchor: the open pipeline is then the training set's
        self._may_send = asyncio.Event()
        self._may_send.set()

    def pause(self) -> None:
        """Send nothing more until ``resume`` (webhooks already sent still get their answers)."""
        self._may_send.clear()

    def resume(self) -> None:
        self._may_send.set()

    async def run(self, initial_deals: int, rate_per_s: float, stop: asyncio.Event,
                  max_cycles: int | None = None) -> None:
        """Replay cycles of ``initial_deals`` open deals each, ``rate_per_s`` webhooks a second, until ``stop`` (or
        after ``max_cycles``, leaving the last cycle's deals open)."""
        left_open: dict[str, bool] = {}
        cycle = 0
        pacer = _Pacer(rate_per_s)
        async with httpx.AsyncClient(timeout=5.0) as client, _InFlight(IN_FLIGHT) as in_flight:
            while not stop.is_set() and (max_cycles is None or cycle < max_cycles):
                anchor = demo_anchor()
                feed = await asyncio.to_thread(self._cycle, cycle, initial_deals, anchor)
                shift = shift_to_today(anchor)
                for deal_id, won in left_open.items():
                    now = datetime.now(UTC)
                    if not await self._paced(client, webhook_body(deal_id, now - shift, close_change(won, now - shift),
                                                                  shift), pacer, in_flight, stop):
                        return
                for delivery in feed.deliveries:
                    body = webhook_body(delivery.deal_id, delivery.modified_at, delivery.change, shift)
                    if not await self._paced(client, body, pacer, in_flight, stop):
                        return
                left_open = feed.open_outcomes
                cycle += 1
                self.cycles_completed = cycle

    def _cycle(self, cycle: int, open_deals: int, anchor: datetime) -> TenantFeed:
        return tenant_feed(self._profile, open_deals, seed=self._seed * 1000 + cycle, anchor=anchor,
                           id_prefix=f"C{cycle}")

    async def _paced(self, client: httpx.AsyncClient, body: dict[str, Any], pacer: _Pacer, in_flight: _InFlight,
                     stop: asyncio.Event) -> bool:
        """Send one webhook without waiting for its answer, then wait for the next slot; False once ``stop`` is
        set."""
        if not self._may_send.is_set() and not await _first_of(self._may_send, stop):
            return False
        await in_flight.start(self._send(client, body))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pacer.until_next())
        return not stop.is_set()

    async def _send(self, client: httpx.AsyncClient, change: dict[str, Any]) -> None:
        body = orjson.dumps(change)
        try:
            response = await client.post(self._url, content=body,
                                         headers=webhook_headers(self._tenant_id, self._secret, body))
            self.sent += 1
            if response.status_code >= 400:
                self.rejected += 1
                log.warning("demo change rejected: %s %s", response.status_code, response.text[:300])
        except httpx.HTTPError as exc:
            log.warning("demo change not delivered: %r", exc)


async def _first_of(wanted: asyncio.Event, stop: asyncio.Event) -> bool:
    """Wait until ``wanted`` or ``stop`` is set; True if it was ``wanted``."""
    waits = [asyncio.create_task(wanted.wait()), asyncio.create_task(stop.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for waiting in waits:
        waiting.cancel()
    return not stop.is_set()


class _Pacer:
    """Slots on a fixed schedule (waiting ``1/rate`` after each send ran slower than the rate). Behind schedule it
    sends back to back, catching up at most a second's worth, so a stalled ingest is not answered with a flood."""

    def __init__(self, rate_per_s: float) -> None:
        self._interval = 1.0 / rate_per_s
        self._next = time.monotonic()

    def until_next(self) -> float:
        now = time.monotonic()
        self._next = max(self._next + self._interval, now - 1.0)
        return max(0.0, self._next - now)


class _InFlight:
    """At most ``limit`` sends running; leaving waits for the last answers, so ``sent`` counts every change."""

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, sending: Coroutine[Any, Any, None]) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(sending)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def __aenter__(self) -> _InFlight:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.gather(*self._tasks)
