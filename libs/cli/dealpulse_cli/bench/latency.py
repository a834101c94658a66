"""Webhook accepted → score on the WebSocket, with the time split per hop, at a fixed offered rate."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson

from dealpulse_cli.bench import profile
from dealpulse_cli.bench.harness import BenchSystem
from dealpulse_cli.webhook_client import WEBHOOK_PATH, webhook_headers
from dealpulse_common.auth import issue_token
from dealpulse_common.settings import ServiceSettings

WARM_UP = "warm"
NOT_SERVICES = frozenset({"broker", "postgres", "machine"})  # measured beside the five services, not summed
PROFILE_S = 20.0  # the profiled pass after the measured one
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
    lost: int  # answered 202, never scored
    # Scored although the sender saw no 202: the broker took the records after ingest gave up waiting (503) or the
    # answer came too late. At least once: a CRM retries those, and the deterministic event id dedupes the retry.
    scored_unacknowledged: int
    duplicates: int
    offered_rate: float
    achieved_rate: float
    end_to_end_ms: list[float] = field(default_factory=list)
    hops_ms: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    cpu_share: dict[str, float] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds used from the first change to the last score
    webhook_answer_ms: list[float] = field(default_factory=list)
    client_to_client_ms: list[float] = field(default_factory=list)
    rss_mb: dict[str, float] = field(default_factory=dict)
    profiles: dict[str, profile.Profile] = field(default_factory=dict)  # py-spy, over a second pass at the same rate

    def cpu_ms_per_change(self) -> dict[str, float]:
        """CPU milliseconds per accepted change: each service, their sum (``total``), and beside it the broker,
        PostgreSQL and the whole machine (load generator included)."""
        if not self.accepted:
            return {}
        per = {name: 1000 * used / self.accepted for name, used in self.cpu_s.items()}
        per["total"] = sum(ms for name, ms in per.items() if name not in NOT_SERVICES)
        return per

    def percentiles(self, values: list[float]) -> dict[str, float]:
        if not values:
            return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
        array = np.asarray(values)
        return {f"p{q}": float(np.percentile(array, q)) for q in (50, 95, 99)}


async def measure(system: BenchSystem, tenant_id: str, secret: str, changes: int, rate: float,
                  deals: int = 1_000, seed: int = 3) -> LatencyResult:
    token = issue_token(ServiceSettings().jwt_secret, tenant_id, "admin", "bench", 3600)
    ws_url = system.supervisor.url("gateway").replace("http://", "ws://") + f"/v1/stream?token={token}"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "scores.jsonl"
        receiver = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dealpulse_cli.bench.stream_receiver", ws_url, str(out))
        try:
            await _wait_for_file(out.parent / (out.name + ".ready"))
            await _warm_up(system, tenant_id, secret, out)
            cpu_before = system.cpu_seconds_everywhere()
            pids = {name: process.pid for name, process in system.supervisor.processes.items()}
            answers, achieved, duration, answer_ms = await _offer_load(
                system, tenant_id, secret, changes, rate, deals, seed)
            accepted = {event_id for event_id, status in answers.items() if status == 202}
            lines = await _wait_for_lines(out, len(accepted))
            cpu_after = system.cpu_seconds_everywhere()
            cpu_s = {name: used - cpu_before[name] for name, used in cpu_after.items()}
            cpu_share = {name: used / duration for name, used in cpu_s.items()}
            # Sampling five processes costs a share of the same two cores, so the profile gets a pass of its own
            # and the figures above are taken without it.
            _, profiles = await asyncio.gather(
                _offer_load(system, tenant_id, secret, int(rate * PROFILE_S), rate, deals, seed + 1,
                            prefix="profile"),
                profile.record(pids, PROFILE_S - 2, Path(folder)))
        finally:
            receiver.terminate()
            await receiver.wait()
    lines = [line for line in lines if not line["event_id"].startswith(WARM_UP)]
    counts = Counter(line["event_id"] for line in lines)
    first = {line["event_id"]: line["timing"] for line in reversed(lines)}
    result = LatencyResult(sent=changes, accepted=len(accepted), received=len(first),
                           lost=len(accepted - first.keys()), scored_unacknowledged=len(first.keys() - accepted),
                           duplicates=sum(c - 1 for c in counts.values() if c > 1), offered_rate=rate,
                           achieved_rate=achieved, statuses=dict(Counter(answers.values())),
                           rss_mb=system.rss_mb(with_broker=True),
                           cpu_share=cpu_share, cpu_s=cpu_s, webhook_answer_ms=answer_ms, profiles=profiles)
    for raw in first.values():
        timing = {k: datetime.fromisoformat(v) for k, v in raw.items() if v}
        result.end_to_end_ms.append(_ms(timing, "received_at", "client_at"))
        result.client_to_client_ms.append(_ms(timing, "bench_sent_at", "client_at"))
        for hop, start, end in HOPS:
            result.hops_ms.setdefault(hop, []).append(_ms(timing, start, end))
    return result


async def _warm_up(system: BenchSystem, tenant_id: str, secret: str, out: Path, changes: int = 50) -> None:
    """Until every consumer group has its partitions, the first scores wait on rebalances, not on the system."""
    answers, *_ = await _offer_load(system, tenant_id, secret, changes, 25.0, changes, seed=99, prefix=WARM_UP)
    await _wait_for_lines(out, sum(status == 202 for status in answers.values()), settle_s=0.0)
    await asyncio.to_thread(out.write_text, "")


async def _offer_load(system: BenchSystem, tenant_id: str, secret: str, changes: int, rate: float, deals: int,
                      seed: int, prefix: str = "bench") -> tuple[Counter[int], float, float, list[float]]:
    """Send ``changes`` webhooks at a fixed offered rate (open loop: a slow answer does not slow the offer).

    aiohttp, not httpx, drives the load: at a few hundred requests a second httpx's pool costs the sender more
    CPU than the service it measures, and its queueing would be counted against the system.
    """
    rng = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    answer_ms: list[float] = []
    url = f"{system.supervisor.url('ingest')}{WEBHOOK_PATH}"
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        started = time.perf_counter()
        tasks = []
        for n in range(changes):
            change = _change(rng, n, deals, base, prefix)
            tasks.append(asyncio.create_task(_send(session, url, tenant_id, secret, change, answer_ms)))
            delay = started + (n + 1) / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        offered_for = time.perf_counter() - started
        answers = dict(await asyncio.gather(*tasks))
        duration = time.perf_counter() - started
    return answers, changes / offered_for, duration, answer_ms


async def _wait_for_file(path: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():  # noqa: ASYNC240 - a stat every 50 ms while the receiver connects
        if time.monotonic() > deadline:
            raise RuntimeError("the stream receiver did not connect")
        await asyncio.sleep(0.05)


async def _wait_for_lines(out: Path, expected: int, timeout_s: float = 60.0,
                          settle_s: float = 1.0) -> list[dict[str, Any]]:
    """Every accepted change's score, then one more second in which a duplicate would show up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = _read_lines(out)
        if len({line["event_id"] for line in lines}) >= expected:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(settle_s)
    return _read_lines(out)


def _read_lines(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.endswith("}")]


def _change(rng: random.Random, n: int, deals: int, base: datetime, prefix: str) -> dict[str, Any]:
    # Round-robin over the deals: a CRM does not send two changes of one deal in the same instant.
    return {"deal_id": f"{prefix}-{n % deals}", "modified_at": (base + timedelta(milliseconds=n)).isoformat(),
            "event_id": f"{prefix}-{n}", "amount": round(rng.uniform(5_000, 400_000), 2),
            "stage": rng.choice(["Prospecting", "Qualification", "Proposal", "Negotiation"]),
            "expected_close_date": (base + timedelta(days=rng.randint(10, 200))).date().isoformat(),
            "last_activity_at": (base - timedelta(days=rng.randint(0, 60))).isoformat()}


async def _send(session: aiohttp.ClientSession, url: str, tenant_id: str, secret: str, change: dict[str, Any],
                answer_ms: list[float]) -> tuple[str, int]:
    """The change's event id and the status it was answered with (0: no answer)."""
    started = time.perf_counter()
    change["custom"] = {"bench_sent_at": datetime.now(UTC).isoformat()}
    body = orjson.dumps(change)
    try:
        async with session.post(url, data=body, headers=webhook_headers(tenant_id, secret, body)) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError):
        return change["event_id"], 0
    answer_ms.append((time.perf_counter() - started) * 1000)
    return change["event_id"], status


def _ms(timing: dict[str, datetime], start: str, end: str) -> float:
    return (timing[end] - timing[start]).total_seconds() * 1000
