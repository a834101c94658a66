"""Run the benchmarks and record them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from dealpulse_cli.bench.harness import bench_system
from dealpulse_cli.bench.latency import HOPS, LatencyResult, measure
from dealpulse_cli.bench.report import write_section

BENCH_TENANT = "bench"


def run_latency(changes: int, rate: float, report: Path) -> LatencyResult:
    secret = uuid.uuid4().hex
    with bench_system(BENCH_TENANT, secret) as system:
        result = asyncio.run(measure(system, BENCH_TENANT, secret, changes, rate))
    write_section(report, f"latency-{rate:g}", _latency_markdown(result),
                  f"dealpulse bench latency --changes {changes} --rate {rate:g}")
    return result


def _latency_markdown(result: LatencyResult) -> str:
    def row(name: str, values: list[float]) -> str:
        p = result.percentiles(values)
        return f"| {name} | {p['p50']:.1f} | {p['p95']:.1f} | {p['p99']:.1f} |"

    lines = [
        f"## Webhook accepted → score on the WebSocket, {result.offered_rate:g} changes/s",
        "",
        f"{result.sent} signed webhooks offered at {result.offered_rate:g}/s (achieved {result.achieved_rate:.0f}/s) "
        f"over 1,000 deals; {result.accepted} accepted (202), {result.received} distinct scores received on one "
        f"WebSocket client, {result.accepted - result.received} lost, {result.duplicates} duplicated.",
        "",
        "| hop | p50 ms | p95 ms | p99 ms |",
        "| --- | ---: | ---: | ---: |",
        row("**end to end** (ingest received → client received)", result.end_to_end_ms),
        *(row(hop, result.hops_ms.get(hop, [])) for hop, _, _ in HOPS),
        "",
        "Resident memory after the run (MB): "
        + ", ".join(f"{name} {mb:.0f}" for name, mb in sorted(result.rss_mb.items())) + ".",
    ]
    return "\n".join(lines)
