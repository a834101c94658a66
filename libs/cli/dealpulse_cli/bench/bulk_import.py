"""A CSV of N deals imported through ``POST /v1/imports`` until every deal is scored, with a timeline of both."""

from __future__ import annotations

import asyncio
import csv
import math
import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from dealpulse_cli.bench.harness import BenchSystem, bench_system
from dealpulse_cli.bench.report import write_section
from dealpulse_common.auth import issue_token
from dealpulse_common.settings import ServiceSettings

BENCH_TENANT = "bench-import"
HEADERS = ("deal_id", "name", "account_name", "owner_id", "stage", "amount", "currency", "modified_at",
           "created_at", "expected_close_date", "last_activity_at")
STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation", "Commit - Verbal")
# Scoring that makes no progress for this long is a stall, reported as such instead of waiting forever.
STALL_S = 120.0


@dataclass
class Sample:
    at_s: float
    imported: int
    scored: int
    broker_rss_mb: float


@dataclass
class ImportBenchResult:
    rows: int
    accepted: int = 0
    rejected: int = 0
    import_s: float = float("nan")
    all_scored_s: float = float("nan")
    scored: int = 0
    stalled: bool = False
    samples: list[Sample] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)


def write_csv(path: Path, rows: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        writer.writerows(_rows(rng, rows))


def _rows(rng: random.Random, rows: int) -> Iterator[list[Any]]:
    base = datetime(2026, 6, 1, tzinfo=UTC)
    for n in range(rows):
        created = base - timedelta(days=rng.randint(5, 200))
        yield [f"IMP-{n}", f"Deal {n}", f"Account {n % 5_000}", f"rep-{n % 40}", rng.choice(STAGES),
               round(rng.uniform(2_000, 500_000), 2), "USD", (base + timedelta(seconds=n)).isoformat(),
               created.isoformat(), (base + timedelta(days=rng.randint(5, 180))).date().isoformat(),
               (base - timedelta(days=rng.randint(0, 45))).isoformat()]


async def measure(system: BenchSystem, rows: int, data: Path, poll_s: float = 1.0) -> ImportBenchResult:
    result = ImportBenchResult(rows=rows)
    token = issue_token(ServiceSettings().jwt_secret, BENCH_TENANT, "admin", "bench", 7200)
    broker = psutil.Process(system.stack.broker_pid())
    cpu_before = system.cpu_seconds_everywhere()
    database = await asyncpg.connect(system.stack.admin_database_url)
    try:
        async with httpx.AsyncClient(base_url=system.supervisor.url("ingest"), timeout=120,
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            started = time.perf_counter()
            job_id = await _upload(client, data)
            await _follow(_Progress(client, database, job_id, broker, started), result, poll_s)
    finally:
        await database.close()
    cpu_after = system.cpu_seconds_everywhere()
    result.cpu_s = {name: used - cpu_before[name] for name, used in cpu_after.items()}
    result.rss_mb = system.rss_mb(with_broker=True)
    return result


@dataclass
class _Progress:
    """Where the benchmark reads progress from: the job over HTTP, the scores in PostgreSQL, the broker's RSS."""

    client: httpx.AsyncClient
    database: asyncpg.Connection
    job_id: str
    broker: psutil.Process
    started: float
    job: dict[str, Any] = field(default_factory=lambda: {"status": "running"})

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    async def sample(self) -> Sample:
        if self.job["status"] not in ("done", "failed"):
            self.job = (await self.client.get(f"/v1/imports/{self.job_id}")).json()
        scored = await self.database.fetchval("SELECT count(*) FROM deal_risk WHERE tenant_id = $1", BENCH_TENANT)
        return Sample(self.elapsed(), self.job.get("processed", 0), scored, self.broker.memory_info().rss / 1e6)


async def _follow(progress: _Progress, result: ImportBenchResult, poll_s: float) -> None:
    """Sample until every accepted row is scored, or nothing moved for STALL_S."""
    last_change, last_seen = time.perf_counter(), (-1, -1)
    while True:
        sample = await progress.sample()
        result.samples.append(sample)
        job = progress.job
        result.scored, result.accepted, result.rejected = sample.scored, job.get("accepted", 0), job.get("rejected", 0)
        if job["status"] == "failed":
            raise RuntimeError(f"the import job failed: {job.get('failure')}")
        if job["status"] == "done" and math.isnan(result.import_s):
            result.import_s = progress.elapsed()
        if job["status"] == "done" and sample.scored >= result.accepted:
            result.all_scored_s = progress.elapsed()
            return
        if (sample.imported, sample.scored) != last_seen:
            last_change, last_seen = time.perf_counter(), (sample.imported, sample.scored)
        elif time.perf_counter() - last_change > STALL_S:
            result.stalled = True
            return
        await asyncio.sleep(poll_s)


async def _upload(client: httpx.AsyncClient, data: Path) -> str:
    async def chunks() -> Any:
        with data.open("rb") as handle:
            while chunk := handle.read(256 * 1024):
                yield chunk

    response = await client.post("/v1/imports", content=chunks(), headers={"Content-Type": "text/csv"},
                                 params={"filename": data.name})
    if response.status_code != 202:
        raise RuntimeError(f"upload refused: {response.status_code} {response.text}")
    return str(response.json()["id"])


def run_import_bench(rows: int, report: Path) -> ImportBenchResult:
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "deals.csv"
        write_csv(data, rows)
        with bench_system(BENCH_TENANT, uuid.uuid4().hex) as system:
            result = asyncio.run(measure(system, rows, data))
    write_section(report, "import", _markdown(result), f"dealpulse bench import --rows {rows}")
    return result


def summary(result: ImportBenchResult) -> str:
    if result.stalled:
        return f"import: STALLED with {result.scored}/{result.accepted} scored"
    return (f"import: {result.rows} rows imported in {result.import_s:.1f} s "
            f"({result.rows / result.import_s:.0f} rows/s), all scored after {result.all_scored_s:.1f} s")


def _markdown(result: ImportBenchResult) -> str:
    if result.stalled:
        outcome = (f"**Scoring stalled**: {result.scored} of {result.accepted} accepted deals scored, "
                   f"no progress for {STALL_S:.0f} s.")
    else:
        outcome = (f"Import finished after **{result.import_s:.1f} s** ({result.rows / result.import_s:.0f} rows/s); "
                   f"every accepted deal scored and persisted after **{result.all_scored_s:.1f} s** "
                   f"({result.accepted / result.all_scored_s:.0f} deals/s end to end).")
    timeline = _timeline(result.samples)
    return "\n".join([
        f"## Bulk import: {result.rows:,} CSV rows → every deal scored",
        "",
        f"One CSV of {result.rows:,} new deals uploaded to `POST /v1/imports` on the whole system; done when "
        f"`deal_risk` holds a score for every accepted row ({result.accepted:,} accepted, {result.rejected} "
        "rejected). Target (DESIGN.md): all scored and persisted in < 60 s.",
        "",
        outcome,
        "",
        "| seconds | rows imported | deals scored | broker RSS MB |",
        "| ---: | ---: | ---: | ---: |",
        *(f"| {s.at_s:.0f} | {s.imported:,} | {s.scored:,} | {s.broker_rss_mb:.0f} |" for s in timeline),
        "",
        "CPU seconds used during the run: " + ", ".join(f"{name} {cpu:.0f}" for name, cpu in result.cpu_s.items())
        + f" (machine: every core's busy time, of {(os.cpu_count() or 1) * result.all_scored_s:.0f} its cores had)"
        + ". Resident memory at the end (MB): " + ", ".join(f"{n} {mb:.0f}" for n, mb in result.rss_mb.items())
        + ".",
    ])


def _timeline(samples: list[Sample], points: int = 10) -> list[Sample]:
    if len(samples) <= points:
        return samples
    step = (len(samples) - 1) / (points - 1)
    return [samples[round(i * step)] for i in range(points)]
