"""What the system costs doing nothing: CPU per process over a quiet half minute, after the services settled.
An idle consumer still fetches every partition once per fetch wait, and the embedded broker answers each fetch;
this is the floor every per-change cost sits on."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from dealpulse_cli.bench.harness import bench_system
from dealpulse_cli.bench.report import write_section

IDLE_TENANT = "bench-idle"
SETTLE_S = 15.0


def run_idle_bench(report: Path, seconds: float = 30.0) -> dict[str, float]:
    with bench_system(IDLE_TENANT, uuid.uuid4().hex) as system:
        time.sleep(SETTLE_S)  # the services settle (groups joined, first fetches done) before the quiet is read
        before = system.cpu_seconds(with_broker=True)
        time.sleep(seconds)
        after = system.cpu_seconds(with_broker=True)
    shares = {name: (after[name] - before[name]) / seconds for name in after}
    shares["total"] = sum(shares.values())
    write_section(report, "idle", _markdown(shares, seconds), f"dealpulse bench idle  # {seconds:g} s")
    return shares


def summary(shares: dict[str, float]) -> str:
    return f"idle: {shares['total']:.0%} of a core in all (broker {shares.get('broker', float('nan')):.0%})"


def _markdown(shares: dict[str, float], seconds: float) -> str:
    rows = [f"| {name} | {share:.1%} |" for name, share in sorted(shares.items()) if name != "total"]
    return "\n".join([
        "## Idle: what the system costs doing nothing",
        "",
        f"The whole system started, left {SETTLE_S:g} s to settle, then its CPU read over {seconds:g} quiet seconds "
        f"(share of one core): **{shares['total']:.0%}** in all. The scorer and the gateway fetch every 5 ms (the "
        "hops of a score to the dashboard), verdict and alerts every 25 ms; each empty fetch is answered by the "
        "broker.",
        "",
        "| process | CPU, share of one core |",
        "| --- | ---: |",
        *rows,
    ])
