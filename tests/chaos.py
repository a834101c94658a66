"""What the chaos tests (tests/integration/test_chaos.py) drive the system with while they break it.

- ``RetryingCrm`` sends deal changes as a real CRM does: each until DealPulse acknowledges it (202, or 200
  "duplicate" when the first try was stored but its answer lost), waiting out 503 + Retry-After and connection
  errors; every answer is recorded with when it came.
- ``ResumingDashboard`` is a dashboard on the live stream that reconnects with ``last_id`` whenever the socket drops.
- ``Kubelet`` starts again every service that exited, as Kubernetes restarts a pod: nobody acts by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from dealpulse_cli.webhook_client import WEBHOOK_PATH, webhook_headers
from tests.support import RunningSystem, Tenant

ACKNOWLEDGED = {202: "accepted", 200: "duplicate"}


@dataclass(frozen=True)
class Answer:
    deal_id: str
    sent_at: float  # time.monotonic()
    answered_at: float
    status: int | None  # None: no answer (connection refused or dropped, timeout)
    retry_after: str | None = None


@dataclass
class Feed:
    answers: list[Answer] = field(default_factory=list)

    @property
    def acknowledged(self) -> set[str]:
        """The deals whose change DealPulse acknowledged (stored): each must be scored and judged once."""
        return {a.deal_id for a in self.answers if a.status in ACKNOWLEDGED}

    def unexpected(self) -> Counter[int]:
        """Answers other than acknowledged, 503 (come back later) or none at all: a 500 is a bug even mid-fault."""
        return Counter(a.status for a in self.answers
                       if a.status is not None and a.status not in ACKNOWLEDGED and a.status != 503)

    def between(self, start: float, end: float) -> list[Answer]:
        """Answers to requests sent at or after ``start`` and answered before ``end``."""
        return [a for a in self.answers if a.sent_at >= start and a.answered_at < end]


def commit_call(n: int) -> bool:
    """Every eighth deal is called Commit by its rep without any gate evidence: verdict does not admit it and alerts
    raises "commit not admitted" for it, once."""
    return n % 8 == 0


class RetryingCrm:
    def __init__(self, system: RunningSystem, tenant: Tenant, *, concurrency: int = 20,
                 give_up_after_s: float = 120.0) -> None:
        self._url = f"{system.url('ingest')}{WEBHOOK_PATH}"
        self._tenant = tenant
        self._slots = asyncio.Semaphore(concurrency)
        self._give_up_after_s = give_up_after_s
        self.feed = Feed()
        self.sent = 0

    async def stream(self, prefix: str, rate_per_s: float, *, until: asyncio.Event, then: int = 30,
                     at_most: int = 3_000) -> Feed:
        """New deals (``prefix``-0, -1…), one change each, started at ``rate_per_s`` until ``until`` is set and
        ``then`` more (never more than ``at_most``); returns once every one was acknowledged (or fails past the
        give-up time)."""
        async with httpx.AsyncClient(timeout=10.0) as client:
            tasks: list[asyncio.Task[None]] = []
            after = 0
            while len(tasks) < at_most and after < then:
                n = len(tasks)
                tasks.append(asyncio.create_task(self._until_acknowledged(client, f"{prefix}-{n}", _body(prefix, n))))
                after += until.is_set()
                await asyncio.sleep(1 / rate_per_s)
            await asyncio.gather(*tasks)
        return self.feed

    async def _until_acknowledged(self, client: httpx.AsyncClient, deal_id: str, change: dict[str, Any]) -> None:
        body = orjson.dumps(change)
        deadline = time.monotonic() + self._give_up_after_s
        async with self._slots:
            self.sent += 1
            while True:
                answer = await self._send(client, deal_id, body)
                self.feed.answers.append(answer)
                if answer.status in ACKNOWLEDGED:
                    return
                if answer.status is not None and answer.status < 500:
                    raise AssertionError(f"{deal_id}: DealPulse refused a valid change with {answer.status}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"{deal_id} not acknowledged within {self._give_up_after_s:.0f} s")
                # Retry-After is in seconds; a CRM that honours it exactly would slow the test, so at most 0.5 s.
                await asyncio.sleep(min(float(answer.retry_after or 0.2), 0.5))

    async def _send(self, client: httpx.AsyncClient, deal_id: str, body: bytes) -> Answer:
        sent_at = time.monotonic()
        try:
            response = await client.post(self._url, content=body,
                                         headers=webhook_headers(self._tenant.tenant_id, self._tenant.webhook_secret,
                                                                 body))
        except httpx.HTTPError:
            return Answer(deal_id, sent_at, time.monotonic(), None)
        return Answer(deal_id, sent_at, time.monotonic(), response.status_code, response.headers.get("Retry-After"))


def _body(prefix: str, n: int) -> dict[str, Any]:
    change: dict[str, Any] = {"deal_id": f"{prefix}-{n}", "modified_at": "2026-11-20T10:00:00Z", "name": f"Deal {n}",
                              "amount": 10_000 + n, "stage": "Proposal", "owner_id": "rep-1",
                              "expected_close_date": "2026-12-31"}
    if commit_call(n):
        change["forecast_category"] = "Commit"
    return change


class ResumingDashboard:
    """A dashboard on the tenant's live stream that, whenever its socket drops (the gateway was killed), reconnects
    with the id of the last message it got, as the dashboard page does."""

    def __init__(self, system: RunningSystem, tenant: Tenant) -> None:
        self._system = system
        self._tenant = tenant
        self.messages: list[dict[str, Any]] = []
        self.reconnects = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ResumingDashboard:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task

    def scores(self) -> list[str]:
        """The ids of the score events received, in order, duplicates kept."""
        return [m["event"]["id"] for m in self.messages if m["kind"] == "score"]

    async def _run(self) -> None:
        while not self._stop.is_set():
            params = {"last_id": self.messages[-1]["id"]} if self.messages else {}
            try:
                client = await self._system.stream(self._tenant, **params)
            except (OSError, InvalidHandshake, TimeoutError):
                await asyncio.sleep(0.2)
                continue
            try:
                while not self._stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        self.messages.append(await client.next_message(timeout=0.5))
            except (ConnectionClosed, OSError):
                self.reconnects += 1
            finally:
                with contextlib.suppress(Exception):
                    await client.close()


class Kubelet:
    """Restarts every service that exits, as Kubernetes restarts a pod, until stopped; ``hands_off`` holds it back
    while a test stops and starts a service itself (a rolling restart)."""

    def __init__(self, system: RunningSystem, interval_s: float = 0.3) -> None:
        self._system = system
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="kubelet", daemon=True)
        self.restarts: list[tuple[str, int]] = []

    @contextmanager
    def running(self) -> Iterator[Kubelet]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()

    @contextmanager
    def hands_off(self) -> Iterator[None]:
        with self._lock:
            yield

    def _watch(self) -> None:
        while not self._stop.wait(self._interval_s):
            with self._lock:
                self.restarts.extend(self._system.supervisor.restart_exited())
