"""Run the benchmarks and record them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from dealpulse_cli.bench import profile
from dealpulse_cli.bench.harness import BENCH_PORT_OFFSET, bench_system
from dealpulse_cli.bench.latency import HOPS, PROFILE_S, LatencyResult, measure
from dealpulse_cli.bench.report import write_section
from dealpulse_cli.bench.stream_framework import compare
from dealpulse_cli.system import embedded_stack

BENCH_TENANT = "bench"


def run_latency(changes: int, rate: float, report: Path) -> LatencyResult:
    secret = uuid.uuid4().hex
    with bench_system(BENCH_TENANT, secret) as system:
        result = asyncio.run(measure(system, BENCH_TENANT, secret, changes, rate))
    write_section(report, f"latency-{rate:g}", _latency_markdown(result),
                  f"dealpulse bench latency --changes {changes} --rate {rate:g}")
    return result


def run_framework(report: Path, messages: int = 2_000, rate: float = 200.0) -> dict[str, dict[str, float]]:
    with embedded_stack("bench-framework", BENCH_PORT_OFFSET, fresh=True, remove_data=True) as stack:
        results = compare(stack.kafka_bootstrap, messages, rate)
    rows = "\n".join(f"| {name} | {s['received']:.0f}/{messages} | {s['p50']:.1f} | {s['p95']:.1f} | {s['p99']:.1f} |"
                     for name, s in results.items())
    body = (f"## Stream framework: one produce → consume hop, {rate:g} msg/s\n\n"
            "| framework | received | p50 ms | p95 ms | p99 ms |\n| --- | ---: | ---: | ---: | ---: |\n" + rows +
            "\n\nThe reason every stream processor runs on plain aiokafka (docs/ARCHITECTURE.md).")
    write_section(report, "framework", body, f"dealpulse bench framework  # {messages} messages at {rate:g}/s")
    return results


def _statuses(statuses: dict[int, int]) -> str:
    return ", ".join(f"{count} × {status or 'no answer'}" for status, count in sorted(statuses.items()))


def _latency_markdown(result: LatencyResult) -> str:
    def row(name: str, values: list[float]) -> str:
        p = result.percentiles(values)
        return f"| {name} | {p['p50']:.1f} | {p['p95']:.1f} | {p['p99']:.1f} |"

    lines = [
        f"## Webhook accepted → score on the WebSocket, {result.offered_rate:g} changes/s",
        "",
        f"{result.sent} signed webhooks offered at {result.offered_rate:g}/s (achieved {result.achieved_rate:.0f}/s) "
        f"over 1,000 deals; answers {_statuses(result.statuses)}; {result.received} distinct scores received on "
        f"one WebSocket client (its own process), {result.lost} of the accepted lost "
        f"({result.scored_unacknowledged} scored without a 202: taken by the broker after ingest stopped waiting), "
        f"{result.duplicates} duplicated.",
        "",
        "| hop | p50 ms | p95 ms | p99 ms |",
        "| --- | ---: | ---: | ---: |",
        row("**end to end** (ingest received → client received)", result.end_to_end_ms),
        row("load client sent → stream client received (includes client-side queueing)", result.client_to_client_ms),
        row("webhook answer as the sender saw it", result.webhook_answer_ms),
        *(row(hop, result.hops_ms.get(hop, [])) for hop, _, _ in HOPS),
        "",
        "Resident memory after the run (MB): "
        + ", ".join(f"{name} {mb:.0f}" for name, mb in sorted(result.rss_mb.items())) + ". "
        "CPU used during the load (share of one core): "
        + ", ".join(f"{name} {share:.0%}" for name, share in sorted(result.cpu_share.items())) + ".",
        "",
        "CPU milliseconds per accepted change (target ≤ 2.5 summed over the five services): "
        + ", ".join(f"{name} {ms:.2f}" for name, ms in sorted(result.cpu_ms_per_change().items())) + ".",
        "",
        f"Where each service's CPU went (py-spy, `dealpulse_cli/bench/profile.py`, over a {PROFILE_S:.0f} s pass at "
        "the same rate after the measured one, so sampling does not slow the figures above):",
        "",
        *profile.markdown(result.profiles),
    ]
    return "\n".join(lines)


def latency_figures(result: LatencyResult) -> dict[str, float]:
    """The run's figures for docs/benchmarks.json: percentiles per hop, loss, duplicates, CPU per change, memory."""
    figures = {f"end_to_end_{q}_ms": v for q, v in result.percentiles(result.end_to_end_ms).items()}
    for hop, _, _ in HOPS:
        figures.update({f"hop.{hop}.{q}_ms": v for q, v in result.percentiles(result.hops_ms.get(hop, [])).items()})
    figures.update(lost=float(result.lost), scored_unacknowledged=float(result.scored_unacknowledged),
                   duplicated=float(result.duplicates),
                   achieved_rate=result.achieved_rate)
    per_change = result.cpu_ms_per_change()
    figures.update({f"cpu_ms_per_change.{name}": ms for name, ms in per_change.items()})
    figures.update({f"rss_mb.{name}": mb for name, mb in result.rss_mb.items()})
    return figures
