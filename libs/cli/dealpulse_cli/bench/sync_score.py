"""``POST /v1/deals/score`` under an open-loop load, beside the naive baseline (``naive_baseline.py``).

The bench system's model is replaced by one trained here, so that its scikit-learn estimator — the ONNX graph's
source — can serve the baseline: both answer from the same model. Then, for each of the two:

* **latency at a fixed offer**: requests sent at ``rate``/s whatever the answers do (open loop: a slow answer does
  not slow the offer), each timed from the moment it was due, so queueing counts against the server;
* **throughput per core**: ``workers`` requests kept in flight for ``seconds``; answers per CPU-second used by the
  serving processes (DealPulse: gateway and scorer; the baseline: its one process).

The load comes from this process (aiohttp), on loopback; it shares the 2 cores with what it measures.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import joblib
import numpy as np
import psutil

from dealpulse_cli.bench import profile
from dealpulse_cli.bench.harness import BENCH_PORT_OFFSET, BenchSystem, bench_system
from dealpulse_cli.bench.report import write_section
from dealpulse_common.auth import issue_token
from dealpulse_common.settings import ServiceSettings
from dealpulse_scorer.model import ModelRegistry
from dealpulse_scorer.training.dataset import row_to_deal, write_csv
from dealpulse_scorer.training.synthetic import generate
from dealpulse_scorer.training.train import train_model

BENCH_TENANT = "bench-sync"
TRAINING_DEALS = 20_000
BASELINE_PORT = 8090 + BENCH_PORT_OFFSET
TARGET_P99_MS = 15.0
WARM_UP = 50


@dataclass
class Served:
    name: str
    latency_ms: list[float] = field(default_factory=list)
    failures: int = 0
    achieved_rate: float = 0.0
    answers_per_cpu_s: float = 0.0
    closed_loop_rate: float = 0.0
    profiles: dict[str, profile.Profile] = field(default_factory=dict)  # sampled during the closed loop

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latency_ms, q)) if self.latency_ms else float("nan")


@dataclass
class SyncScoreResult:
    rate: float
    requests: int
    model_version: str
    servers: list[Served]


def _deals(count: int, seed: int = 5) -> list[dict[str, Any]]:
    """Open deals of the synthetic world, as the CRM would describe them, for the bench tenant."""
    rows = generate(max(200, count), n_tenants=1, seed=seed)
    deals = [row_to_deal(row)[0] for row in rows]
    open_deals = [d.model_copy(update={"tenant_id": BENCH_TENANT}) for d in deals if not d.is_closed]
    return [d.model_dump(mode="json") for d in random.Random(seed).sample(open_deals, min(count, len(open_deals)))]


async def _open_loop(session: aiohttp.ClientSession, url: str, headers: dict[str, str], bodies: list[dict[str, Any]],
                     requests: int, rate: float, served: Served) -> None:
    async def send(body: dict[str, Any], due: float) -> None:
        try:
            async with session.post(url, json=body, headers=headers) as response:
                await response.read()
                ok = response.status == 200
        except (aiohttp.ClientError, TimeoutError):  # counted as a failure, never the end of the run
            ok = False
        if ok:
            served.latency_ms.append((time.perf_counter() - due) * 1000)
        else:
            served.failures += 1

    started = time.perf_counter()
    tasks = []
    for n in range(requests):
        due = started + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(bodies[n % len(bodies)], due)))
    await asyncio.gather(*tasks)
    served.achieved_rate = requests / (time.perf_counter() - started)


async def _closed_loop(session: aiohttp.ClientSession, url: str, headers: dict[str, str],
                       bodies: list[dict[str, Any]], workers: int, seconds: float,
                       cpu_seconds: Callable[[], float], served: Served) -> None:
    answered = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal answered
        n = offset
        while time.perf_counter() < deadline:
            async with session.post(url, json=bodies[n % len(bodies)], headers=headers) as response:
                await response.read()
                answered += response.status == 200
            n += workers

    cpu_before, started = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu_before
    served.closed_loop_rate = answered / elapsed
    served.answers_per_cpu_s = answered / cpu if cpu > 0 else float("nan")


async def _measure(name: str, url: str, headers: dict[str, str], bodies: list[dict[str, Any]], requests: int,
                   rate: float, pids: dict[str, int], workers: int, seconds: float, folder: Path) -> Served:
    served = Served(name)
    connector = aiohttp.TCPConnector(limit=128)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        await _open_loop(session, url, headers, bodies, WARM_UP, rate / 4, Served("warm-up"))
        await _open_loop(session, url, headers, bodies, requests, rate, served)
        _, served.profiles = await asyncio.gather(
            _closed_loop(session, url, headers, bodies, workers, seconds, _cpu_of(pids.values()), served),
            profile.record(pids, seconds - 1, folder))
    return served


def _cpu_of(pids: Iterable[int]) -> Callable[[], float]:
    processes = [psutil.Process(pid) for pid in pids]

    def used() -> float:
        return sum(p.cpu_times().user + p.cpu_times().system for p in processes)

    return used


async def _serving_version(url: str, headers: dict[str, str], body: dict[str, Any], version: str) -> None:
    """Until the scorer answers with the freshly promoted version (it watches the registry)."""
    deadline = time.monotonic() + 120
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            async with session.post(url, json=body, headers=headers) as response:
                if response.status == 200 and (await response.json()).get("model_version") == version:
                    return
            await asyncio.sleep(0.5)
    raise RuntimeError(f"the scorer did not serve {version} within 120 s")


async def _wait_for_port(url: str, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"the naive baseline exited with {process.returncode}")
            try:
                async with session.get(url.replace("/score", "/docs")) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError("the naive baseline did not start within 60 s")


def run_sync_score_bench(report: Path, requests: int = 6_000, rate: float = 200.0, workers: int = 8,
                         seconds: float = 20.0) -> SyncScoreResult:
    bodies = _deals(500)
    with bench_system(BENCH_TENANT, uuid.uuid4().hex) as system, tempfile.TemporaryDirectory() as folder:
        data = write_csv(generate(TRAINING_DEALS, n_tenants=3, seed=0), Path(folder) / "train.csv")
        trained = train_model(data, system.registry)
        ModelRegistry(system.registry).promote(trained.version, reason="sync-score benchmark")
        estimator = Path(folder) / "estimator.joblib"
        joblib.dump(trained.estimator, estimator)
        token = issue_token(ServiceSettings().jwt_secret, BENCH_TENANT, "rep", "bench", 7200)
        gateway_url = f"{system.supervisor.url('gateway')}/v1/deals/score"
        headers = {"Authorization": f"Bearer {token}"}
        result = asyncio.run(_run(system, gateway_url, headers, bodies, trained.path, estimator, trained.version,
                                  requests, rate, workers, seconds))
    write_section(report, "sync-score", _markdown(result, workers, seconds),
                  f"dealpulse bench sync-score  # {requests} requests at {rate:g}/s, then {workers} in flight "
                  f"for {seconds:g} s, each server")
    return result


async def _run(system: BenchSystem, gateway_url: str, headers: dict[str, str], bodies: list[dict[str, Any]],
               model_dir: Path, estimator: Path, version: str, requests: int, rate: float, workers: int,
               seconds: float) -> SyncScoreResult:
    await _serving_version(gateway_url, headers, bodies[0], version)
    pids = {name: system.supervisor.processes[name].pid for name in ("gateway", "scorer")}
    dealpulse = await _measure("DealPulse (gateway → scorer, ONNX)", gateway_url, headers, bodies, requests, rate,
                               pids, workers, seconds, estimator.parent)
    baseline = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dealpulse_cli.bench.naive_baseline", str(estimator), str(model_dir),
        str(BASELINE_PORT))
    try:
        url = f"http://127.0.0.1:{BASELINE_PORT}/score"
        await _wait_for_port(url, baseline)
        naive = await _measure("naive baseline (one FastAPI process, scikit-learn per request)", url, {}, bodies,
                               requests, rate, {"naive baseline": baseline.pid}, workers, seconds, estimator.parent)
    finally:
        baseline.terminate()
        await baseline.wait()
    return SyncScoreResult(rate, requests, version, [dealpulse, naive])


def summary(result: SyncScoreResult) -> str:
    ours, naive = result.servers
    return (f"sync score at {result.rate:g}/s: p50 {ours.percentile(50):.1f} ms, p99 {ours.percentile(99):.1f} ms "
            f"(naive baseline p99 {naive.percentile(99):.1f} ms); answers per CPU-second {ours.answers_per_cpu_s:.0f} "
            f"vs {naive.answers_per_cpu_s:.0f}")


def _markdown(result: SyncScoreResult, workers: int, seconds: float) -> str:
    ours, naive = result.servers
    rows = [f"| {s.name} | {s.achieved_rate:.0f}/s | {s.percentile(50):.1f} | {s.percentile(95):.1f} | "
            f"{s.percentile(99):.1f} | {s.failures} | {s.closed_loop_rate:.0f}/s | {s.answers_per_cpu_s:.0f} |"
            for s in result.servers]
    verdict = "met" if ours.percentile(99) < TARGET_P99_MS else "**missed**"
    return "\n".join([
        f"## Synchronous scoring: `POST /v1/deals/score` at {result.rate:g} requests/s, beside a naive baseline",
        "",
        f"{result.requests:,} requests offered at {result.rate:g}/s (open loop, each timed from when it was due), "
        f"then {workers} requests kept in flight for {seconds:g} s for the throughput per core; both servers answer "
        f"from the same model ({result.model_version}: the ONNX graph for DealPulse, its scikit-learn estimator for "
        "the baseline) the risk score, category, win probability and top-3 factors by the same occlusion method. "
        f"Target (DESIGN.md): p99 < {TARGET_P99_MS:g} ms — {verdict}.",
        "",
        "| server | achieved | p50 ms | p95 ms | p99 ms | failed | closed-loop answers | answers per CPU-second |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"DealPulse against the baseline: p99 latency × {ours.percentile(99) / naive.percentile(99):.2f}, "
        f"throughput per core × {ours.answers_per_cpu_s / naive.answers_per_cpu_s:.2f} (DealPulse's CPU is the "
        "gateway's and the scorer's together; the load generator runs in the benchmark's own process, on the same "
        "two cores).",
        "",
        f"Where each process's CPU went while {workers} requests were in flight (py-spy, `dealpulse_cli/bench/"
        "profile.py`):",
        "",
        *profile.markdown({**ours.profiles, **naive.profiles}),
    ])


def figures(result: SyncScoreResult) -> dict[str, float]:
    ours, naive = result.servers
    found: dict[str, float] = {}
    for key, served in (("dealpulse", ours), ("baseline", naive)):
        found.update({f"{key}.p{q}_ms": served.percentile(q) for q in (50, 95, 99)})
        found[f"{key}.answers_per_cpu_s"] = served.answers_per_cpu_s
    found["p99_ratio_to_baseline"] = ours.percentile(99) / naive.percentile(99)
    found["throughput_per_core_ratio_to_baseline"] = ours.answers_per_cpu_s / naive.answers_per_cpu_s
    return found
