"""``dealpulse bench [SECTION]``: every benchmark section, run one after another with a progress line each, each
writing its Markdown section of docs/BENCHMARKS.md and its figures into docs/benchmarks.json beside it (what
``dealpulse bench compare`` reads)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from typing import Any

from dealpulse_cli.bench import results

Figures = dict[str, float]
Section = Callable[[argparse.Namespace], tuple[list[str], Figures]]


def _idle(args: argparse.Namespace) -> tuple[list[str], Figures]:
    from dealpulse_cli.bench.idle import run_idle_bench, summary

    shares = run_idle_bench(args.report)
    return [summary(shares)], shares


def _framework(args: argparse.Namespace) -> tuple[list[str], Figures]:
    from dealpulse_cli.bench.run import run_framework

    found = run_framework(args.report)
    lines = [f"{name}: one hop p50 {s['p50']:.1f} ms, p99 {s['p99']:.1f} ms" for name, s in found.items()]
    return lines, results.flatten(found)


def _latency_at(fixed_rate: float | None) -> Section:
    """The end-to-end run at ``fixed_rate``, or at ``--rate`` with ``--changes`` when None; a fixed rate offers
    as many seconds of load as ``--changes`` at ``--rate`` would."""
    def run(args: argparse.Namespace) -> tuple[list[str], Figures]:
        from dealpulse_cli.bench.run import latency_figures, run_latency

        rate = fixed_rate or args.rate
        result = run_latency(int(args.changes * rate / args.rate), rate, args.report)
        figures = latency_figures(result)
        return [f"end to end at {rate:g}/s: p50 {figures['end_to_end_p50_ms']:.1f} ms, p99 "
                f"{figures['end_to_end_p99_ms']:.1f} ms; lost {figures['lost']:.0f}, duplicated "
                f"{figures['duplicated']:.0f}; {figures['cpu_ms_per_change.total']:.2f} CPU-ms per change"], figures

    return run


def _model(args: argparse.Namespace) -> tuple[list[str], Figures]:
    from dealpulse_cli.bench.model import run_model_bench, summary_lines

    found = run_model_bench(args.report)
    return summary_lines(found), results.flatten(found)


def _import(args: argparse.Namespace) -> tuple[list[str], Figures]:
    from dealpulse_cli.bench.bulk_import import run_import_bench, summary

    found = run_import_bench(args.rows, args.report)
    return [summary(found)], results.flatten(_plain(found), skip=("samples",))


def _skew(args: argparse.Namespace) -> tuple[list[str], Figures]:
    from dealpulse_cli.bench.skew import run_skew_bench, summary_lines

    found = run_skew_bench(args.report)
    return summary_lines(found), results.flatten(found)


def _alerts(args: argparse.Namespace) -> tuple[list[str], Figures]:
    from dealpulse_cli.bench.alert_volume import figures, run_alert_volume_bench, summary_lines

    found = run_alert_volume_bench(args.report)
    return summary_lines(found), figures(found)


def _soak(args: argparse.Namespace) -> tuple[list[str], Figures]:
    from dealpulse_cli.bench.soak import figures, run_soak_bench, summary

    found = run_soak_bench(args.report, duration_s=args.soak_minutes * 60)
    return [summary(found)], figures(found)


def _broker_log(args: argparse.Namespace) -> tuple[list[str], Figures]:
    from dealpulse_cli.bench.broker_log import figures, run_broker_log_bench, summary

    found = run_broker_log_bench(args.report)
    return [summary(found)], figures(found)


def _metrics(args: argparse.Namespace) -> tuple[list[str], Figures]:
    from dealpulse_cli.bench.pipeline_metrics import figures, run_metrics_bench, summary

    found = run_metrics_bench(args.report, args.rows, args.requests)
    return [summary(found)], figures(found)


def _dashboard(args: argparse.Namespace) -> tuple[list[str], Figures]:
    from dealpulse_cli.bench.dashboard_load import figures, run_dashboard_bench, summary

    found = run_dashboard_bench(args.deals, args.report)
    return [summary(found)], figures(found)


def _sync_score(args: argparse.Namespace) -> tuple[list[str], Figures]:
    from dealpulse_cli.bench.sync_score import figures, run_sync_score_bench, summary

    found = run_sync_score_bench(args.report, rate=args.rate)
    return [summary(found)], figures(found)


SECTIONS: dict[str, Section] = {
    "idle": _idle,
    "framework": _framework,
    "latency": _latency_at(None),
    "latency-500": _latency_at(500.0),
    "sync-score": _sync_score,
    "model": _model,
    "import": _import,
    "skew": _skew,
    "alerts": _alerts,
    "metrics": _metrics,
    "dashboard": _dashboard,
    "broker-log": _broker_log,
    "soak": _soak,
}


def _plain(result: Any) -> dict[str, Any]:
    return asdict(result) if is_dataclass(result) and not isinstance(result, type) else dict(result)


def run(which: str, args: argparse.Namespace, say: Callable[[str], None] = print) -> int:
    """Run one section, or every one in order (``all``), recording each as it finishes."""
    chosen = list(SECTIONS) if which == "all" else [which]
    started = time.monotonic()
    for n, name in enumerate(chosen, start=1):
        say(f"[{n}/{len(chosen)}] {name} — {time.monotonic() - started:,.0f} s since the start")
        section_started = time.monotonic()
        lines, figures = SECTIONS[name](args)
        results.record(args.report.with_name(results.JSON_NAME), name, figures, time.monotonic() - section_started)
        for line in lines:
            say(f"    {line}")
    say(f"written to {args.report} and {args.report.with_name(results.JSON_NAME)} "
        f"in {time.monotonic() - started:,.0f} s")
    return 0
