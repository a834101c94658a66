"""Webhook accepted → score on the WebSocket, with the time split per hop, at a fixed offered rate."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import orjson
import websockets

from dealpulse_cli.bench.harness import BenchSystem
from dealpulse_common.settings import ServiceSettings
from dealpulse_gateway.auth import issue_token
from dealpulse_ingest.signature import sign

HOPS = (("ingest", "received_at", "ingest_published_at"),
        ("broker → scorer", "ingest_published_at", "scorer_consumed_at"),
        ("scorer", "scorer_consumed_at", "scored_at"),
        ("broker → gateway", "scored_at", "gateway_at"),
        ("gateway → client", "gateway_at", "client_at"))


@dataclass
class LatencyResult:
    sent: int
    accepted: int
    received: int
    duplicates: int
    offered_rate: float
    achieved_rate: float
    end_to_end_ms: list[float] = field(default_factory=list)
    hops_ms: dict[str, list[float]] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)

    def percentiles(self, values: list[float]) -> dict[str, float]:
        if not values:
            return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
        array = np.asarray(values)
        return {f"p{q}": float(np.percentile(array, q)) for q in (50, 95, 99)}


async def measure(system: BenchSystem, tenant_id: str, secret: str, changes: int, rate: float,
                  deals: int = 1_000, seed: int = 3) -> LatencyResult:
    token = issue_token(ServiceSettings().jwt_secret, tenant_id, "admin", "bench", 3600)
    ws_url = system.supervisor.url("gateway").replace("http://", "ws://") + f"/v1/stream?token={token}"
    received: dict[str, dict[str, Any]] = {}
    counts: Counter[str] = Counter()
    accepted = 0
    async with websockets.connect(ws_url, max_size=None) as stream:
        reader = asyncio.create_task(_read_scores(stream, received, counts))
        rng = random.Random(seed)
        base = datetime(2026, 1, 1, tzinfo=UTC)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=system.supervisor.url("ingest"), limits=limits, timeout=10) as client:
            started = time.perf_counter()
            tasks = []
            for n in range(changes):
                change = _change(rng, n, deals, base)
                tasks.append(asyncio.create_task(_send(client, tenant_id, secret, change)))
                delay = started + (n + 1) / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            results = await asyncio.gather(*tasks)
            achieved = changes / (time.perf_counter() - started)
        accepted = sum(results)
        deadline = time.monotonic() + 30
        while len(received) < accepted and time.monotonic() < deadline:  # noqa: ASYNC110 - the reader fills it
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # late duplicates would show up here
        reader.cancel()
    result = LatencyResult(sent=changes, accepted=accepted, received=len(received),
                           duplicates=sum(c - 1 for c in counts.values() if c > 1), offered_rate=rate,
                           achieved_rate=achieved, rss_mb=system.rss_mb())
    for timing in received.values():
        result.end_to_end_ms.append(_ms(timing, "received_at", "client_at"))
        for hop, start, end in HOPS:
            result.hops_ms.setdefault(hop, []).append(_ms(timing, start, end))
    return result


async def _read_scores(stream: websockets.ClientConnection, received: dict[str, dict[str, Any]],
                       counts: Counter[str]) -> None:
    async for raw in stream:
        client_at = datetime.now(UTC)
        message = json.loads(raw)
        if message.get("kind") != "score":
            continue
        data = message["event"]["data"]
        event_id = data["source_event_id"]
        counts[event_id] += 1
        timing = {k: datetime.fromisoformat(v) for k, v in data.get("timing", {}).items()}
        timing["gateway_at"] = datetime.fromisoformat(message.get("gateway_at") or data["timing"]["scored_at"])
        timing["client_at"] = client_at
        received.setdefault(event_id, timing)


def _change(rng: random.Random, n: int, deals: int, base: datetime) -> dict[str, Any]:
    return {"deal_id": f"B-{rng.randrange(deals)}", "modified_at": (base + timedelta(milliseconds=n)).isoformat(),
            "event_id": f"bench-{n}", "amount": round(rng.uniform(5_000, 400_000), 2),
            "stage": rng.choice(["Prospecting", "Qualification", "Proposal", "Negotiation"]),
            "expected_close_date": (base + timedelta(days=rng.randint(10, 200))).date().isoformat(),
            "last_activity_at": (base - timedelta(days=rng.randint(0, 60))).isoformat()}


async def _send(client: httpx.AsyncClient, tenant_id: str, secret: str, change: dict[str, Any]) -> bool:
    body = orjson.dumps(change)
    response = await client.post("/v1/webhooks/generic", content=body, headers={
        "Content-Type": "application/json", "X-DealPulse-Tenant": tenant_id,
        "X-DealPulse-Signature": sign(secret, body)})
    return response.status_code == 202


def _ms(timing: dict[str, datetime], start: str, end: str) -> float:
    return (timing[end] - timing[start]).total_seconds() * 1000
