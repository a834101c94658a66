"""The soak: the demo CRM feed at 50 changes/s for 10 minutes (30,000 changes, what the default demo feed sends in
100 minutes) while one probe webhook every few seconds is timed from its send to its score on a WebSocket client —
so a system that slows as it runs (the embedded broker's growing log, a filling cache) shows as a rising line.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets

from dealpulse_cli.bench.harness import BenchSystem, bench_system
from dealpulse_cli.bench.report import write_section
from dealpulse_cli.demo_feed import DemoCrm
from dealpulse_cli.webhook_client import WEBHOOK_PATH, webhook_headers
from dealpulse_common.auth import issue_token
from dealpulse_common.settings import ServiceSettings

SOAK_TENANT = "bench-soak"
PROBE_TIMEOUT_S = 30.0
TARGET_GROWTH = 2.0  # the last minute no slower than twice the first


@dataclass
class Probe:
    at_s: float  # since the soak began
    ms: float | None  # None: no score within PROBE_TIMEOUT_S


@dataclass
class SoakResult:
    duration_s: float
    rate: float
    probes: list[Probe] = field(default_factory=list)
    sent: int = 0
    rejected: int = 0
    broker: list[tuple[float, float, float]] = field(default_factory=list)  # (at_s, CPU share, RSS MB) per minute

    def minute(self, index: int) -> list[float]:
        """The probe latencies of one whole minute of the soak (negative index: from the end)."""
        minutes = max(1, int(self.duration_s // 60))
        chosen = index % minutes
        return [p.ms for p in self.probes if p.ms is not None and int(p.at_s // 60) == chosen]


async def _scores(stream: Any, arrived: dict[str, float]) -> None:
    async for raw in stream:
        message = orjson.loads(raw)
        if message.get("kind") == "score":
            deal_id = message["event"]["data"]["deal"]["deal_id"]
            if deal_id.startswith("soak-probe-"):
                arrived.setdefault(deal_id, time.perf_counter())


async def _probe(client: httpx.AsyncClient, url: str, secret: str, n: int, arrived: dict[str, float]) -> float | None:
    deal_id = f"soak-probe-{n}"
    body = orjson.dumps({"deal_id": deal_id, "modified_at": datetime.now(UTC).isoformat(), "name": f"Probe {n}",
                         "amount": 25_000, "stage": "Proposal",
                         "expected_close_date": (datetime.now(UTC) + timedelta(days=40)).date().isoformat()})
    sent = time.perf_counter()
    response = await client.post(url, content=body, headers=webhook_headers(SOAK_TENANT, secret, body))
    if response.status_code != 202:
        return None
    deadline = sent + PROBE_TIMEOUT_S
    while time.perf_counter() < deadline:
        if deal_id in arrived:
            return (arrived[deal_id] - sent) * 1000
        await asyncio.sleep(0.005)
    return None


async def measure(system: BenchSystem, secret: str, duration_s: float, rate: float, probe_every_s: float,
                  initial_deals: int = 400) -> SoakResult:
    result = SoakResult(duration_s, rate)
    token = issue_token(ServiceSettings().jwt_secret, SOAK_TENANT, "admin", "bench", 7200)
    gateway = system.supervisor.url("gateway").replace("http://", "ws://")
    ingest = system.supervisor.url("ingest")
    crm = DemoCrm(ingest, SOAK_TENANT, secret)
    arrived: dict[str, float] = {}
    stop = asyncio.Event()
    async with websockets.connect(f"{gateway}/v1/stream?token={token}", max_size=None) as stream, \
            httpx.AsyncClient(timeout=10) as client:
        reader = asyncio.create_task(_scores(stream, arrived))
        feed = asyncio.create_task(crm.run(initial_deals=initial_deals, rate_per_s=rate, stop=stop))
        started = time.perf_counter()
        next_minute, cpu_mark = 60.0, system.cpu_seconds(with_broker=True)["broker"]
        n = 0
        while (elapsed := time.perf_counter() - started) < duration_s:
            result.probes.append(Probe(elapsed, await _probe(client, f"{ingest}{WEBHOOK_PATH}", secret, n, arrived)))
            n += 1
            if elapsed >= next_minute:
                cpu_now = system.cpu_seconds(with_broker=True)["broker"]
                result.broker.append((elapsed, (cpu_now - cpu_mark) / 60, system.rss_mb(with_broker=True)["broker"]))
                next_minute, cpu_mark = next_minute + 60, cpu_now
            await asyncio.sleep(max(0.0, started + n * probe_every_s - time.perf_counter()))
        stop.set()
        await feed
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    result.sent, result.rejected = crm.sent, crm.rejected
    return result


def run_soak_bench(report: Path, duration_s: float = 600.0, rate: float = 50.0,
                   probe_every_s: float = 5.0) -> SoakResult:
    secret = uuid.uuid4().hex
    with bench_system(SOAK_TENANT, secret) as system:
        result = asyncio.run(measure(system, secret, duration_s, rate, probe_every_s))
    write_section(report, "soak", _markdown(result, probe_every_s),
                  f"dealpulse bench soak  # demo feed {duration_s:g} s at {rate:g} changes/s, a probe every "
                  f"{probe_every_s:g} s")
    return result


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def figures(result: SoakResult) -> dict[str, float]:
    first, last = _median(result.minute(0)), _median(result.minute(-1))
    return {"first_minute_p50_ms": first, "last_minute_p50_ms": last, "growth": last / first if first else float("nan"),
            "max_ms": max((p.ms for p in result.probes if p.ms is not None), default=float("nan")),
            "lost_probes": float(sum(p.ms is None for p in result.probes)), "sent": float(result.sent)}


def summary(result: SoakResult) -> str:
    found = figures(result)
    return (f"soak: probe p50 {found['first_minute_p50_ms']:.0f} ms in the first minute, "
            f"{found['last_minute_p50_ms']:.0f} ms in the last (× {found['growth']:.2f}); "
            f"{found['lost_probes']:.0f} probes unanswered")


def _markdown(result: SoakResult, probe_every_s: float) -> str:
    found = figures(result)
    minutes = max(1, int(result.duration_s // 60))
    rows = []
    for m in range(minutes):
        values = sorted(result.minute(m))
        broker = next(((cpu, rss) for at, cpu, rss in result.broker if int(at // 60) == m + 1), None)
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))] if values else float("nan")
        rows.append(f"| {m + 1} | {len(values)} | {_median(values):.0f} | {p95:.0f} | "
                    f"{max(values) if values else float('nan'):.0f} | "
                    + (f"{broker[0]:.0%} | {broker[1]:.0f} |" if broker else "– | – |"))
    verdict = "met" if found["growth"] <= TARGET_GROWTH else "**missed**"
    return "\n".join([
        f"## Soak: the demo feed at {result.rate:g} changes/s for {result.duration_s / 60:g} minutes",
        "",
        f"{result.sent:,} demo changes sent ({result.rejected} refused); a probe webhook every {probe_every_s:g} s, "
        "timed from its send to its score on a WebSocket client. Target (DESIGN.md): the last minute no slower "
        f"than {TARGET_GROWTH:g}× the first — {verdict}: median {found['first_minute_p50_ms']:.0f} → "
        f"{found['last_minute_p50_ms']:.0f} ms (× {found['growth']:.2f}); {found['lost_probes']:.0f} probes "
        f"without a score within {PROBE_TIMEOUT_S:g} s.",
        "",
        "| minute | probes | p50 ms | p95 ms | max ms | broker CPU | broker RSS MB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
    ])
