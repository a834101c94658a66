"""``dealpulse bench model``: training time at 100,000 deals, then onnxruntime vs scikit-learn inference on the
same trained model, side by side in one run, and the model's test metrics against the segment-prior baseline.

Side by side means: one process, one thread each (onnxruntime's session is built with one intra- and one
inter-op thread; BLAS/OpenMP pools are limited to one for scikit-learn), the same float32 rows from the test
split, and the two calls interleaved (alternating which goes first) so that neither gets a quieter machine.
ONNX is called through ``LoadedModel.predict_win``, exactly as the scorer calls it; scikit-learn through the
trained ``CalibratedClassifierCV.predict_proba``, the estimator the ONNX graph was exported from.
"""

from __future__ import annotations

import gc
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from dealpulse_cli.bench.report import write_section
from dealpulse_scorer.model import ModelRegistry
from dealpulse_scorer.training.dataset import write_csv
from dealpulse_scorer.training.progress import Progress
from dealpulse_scorer.training.synthetic import generate
from dealpulse_scorer.training.train import train_model

BENCH_DEALS = 100_000
BENCH_TENANTS = 3
BENCH_SEED = 0
SINGLE_CALLS = 5_000  # per engine
BATCH_ROWS = 1_000
BATCH_CALLS = 200  # per engine
WARMUP_CALLS = 100
TARGET_SPEEDUP = 10.0
METRIC_KEYS = ("roc_auc", "pr_auc", "brier", "ece", "log_loss")

STEP_NAMES = {
    "read": "read and validate the CSV",
    "features": "point-in-time features (out-of-fold priors on the training split)",
    "fit_and_calibrate": "fit 150 trees + sigmoid calibration",
    "metrics_export_parity": "test metrics, ONNX export, parity check",
}

Predict = Callable[[np.ndarray], np.ndarray]


def interleaved_latency(first: Predict, second: Predict, batches: list[np.ndarray],
                        warmup: int = WARMUP_CALLS) -> tuple[np.ndarray, np.ndarray]:
    """Seconds per call of ``first`` and ``second`` on each of ``batches``, alternating which runs first."""
    for batch in batches[:warmup]:
        first(batch)
        second(batch)
    times = np.empty((2, len(batches)))
    clock = time.perf_counter
    for i, batch in enumerate(batches):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for which in order:
            predict = first if which == 0 else second
            started = clock()
            predict(batch)
            times[which, i] = clock() - started
    return times[0], times[1]


def consecutive_latency(predict: Predict, batches: list[np.ndarray], warmup: int = WARMUP_CALLS) -> np.ndarray:
    """Seconds per call of ``predict`` alone, back to back (its caches stay warm: a lower bound)."""
    for batch in batches[:warmup]:
        predict(batch)
    times = np.empty(len(batches))
    clock = time.perf_counter
    for i, batch in enumerate(batches):
        started = clock()
        predict(batch)
        times[i] = clock() - started
    return times


def _summary(seconds: np.ndarray) -> dict[str, float]:
    micro = seconds * 1e6
    return {"median_us": float(np.median(micro)), "p99_us": float(np.percentile(micro, 99)),
            "mean_us": float(micro.mean()), "calls": float(len(micro))}


def measure_inference(onnx_predict: Predict, sklearn_predict: Predict, rows: np.ndarray) -> dict[str, Any]:
    """Single-row and ``BATCH_ROWS``-row latency of both engines on the same rows, one thread each."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    singles = [rows[i % len(rows)].reshape(1, -1) for i in range(SINGLE_CALLS)]
    starts = [(i * BATCH_ROWS) % max(1, len(rows) - BATCH_ROWS) for i in range(BATCH_CALLS)]
    batches = [rows[s : s + BATCH_ROWS] for s in starts]
    gc.collect()
    with threadpool_limits(limits=1):
        onnx_single, sklearn_single = interleaved_latency(onnx_predict, sklearn_predict, singles)
        onnx_batch, sklearn_batch = interleaved_latency(onnx_predict, sklearn_predict, batches, warmup=10)
        onnx_alone = consecutive_latency(onnx_predict, singles)
        sklearn_alone = consecutive_latency(sklearn_predict, singles)
        parity = float(np.max(np.abs(onnx_predict(batches[0]) - sklearn_predict(batches[0]))))
    result: dict[str, Any] = {
        "single": {"onnx": _summary(onnx_single), "sklearn": _summary(sklearn_single)},
        "batch": {"onnx": _summary(onnx_batch), "sklearn": _summary(sklearn_batch)},
        "single_alone": {"onnx": _summary(onnx_alone), "sklearn": _summary(sklearn_alone)},
        "batch_rows": BATCH_ROWS,
        "parity_max_abs_error": parity,
    }
    for kind in ("single", "batch", "single_alone"):
        pair = result[kind]
        pair["speedup_median"] = pair["sklearn"]["median_us"] / pair["onnx"]["median_us"]
        pair["speedup_p99"] = pair["sklearn"]["p99_us"] / pair["onnx"]["p99_us"]
    return result


def run_model_bench(report: Path, deals: int = BENCH_DEALS) -> dict[str, Any]:
    """Generate ``deals`` synthetic deals, train on them (timed separately), measure inference side by side,
    write the ``model`` section of ``report`` and return the numbers."""
    progress = Progress("bench model")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="dealpulse-bench-model-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        rows = generate(deals, BENCH_TENANTS, BENCH_SEED)
        generate_seconds = time.perf_counter() - started
        closed = [r for r in rows if r["is_closed"]]
        data = {"deals": deals, "closed": len(closed), "win_rate": sum(bool(r["is_won"]) for r in closed) / len(closed)}
        started = time.perf_counter()
        data_path = write_csv(rows, work / "deals.csv")
        write_seconds = time.perf_counter() - started
        data["csv_mb"] = data_path.stat().st_size / 2**20
        del rows, closed
        progress.note(f"generated {deals:,} deals in {generate_seconds:.1f} s, wrote CSV in {write_seconds:.1f} s")

        started = time.perf_counter()
        result = train_model(data_path, work / "registry", seed=BENCH_SEED, progress=progress)
        train_seconds = time.perf_counter() - started
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        model = ModelRegistry(work / "registry").load(result.version)
        estimator = result.estimator
        with progress.step(f"inference: {SINGLE_CALLS:,} single rows and {BATCH_CALLS} × {BATCH_ROWS:,} rows, "
                           "each engine, interleaved"):
            inference = measure_inference(model.predict_win, lambda x: estimator.predict_proba(x)[:, 1],
                                          result.x_test)
    summary: dict[str, Any] = {
        "data": data,
        "seconds": {"generate": generate_seconds, "write_csv": write_seconds, "train": train_seconds,
                    "steps": result.manifest.get("step_seconds", {})},
        "peak_rss_mb": peak_rss_mb,
        "load_average": {"before": load_before, "after": os.getloadavg()[0]},
        "inference": inference,
        "metrics": {"model": result.metrics["model"], "baseline": result.metrics["baseline"],
                    "split": result.metrics["split"]},
        "version": result.version,
    }
    write_section(report, "model", model_markdown(summary), f"dealpulse bench model  # {deals:,} deals")
    return summary


def _ratio(value: float) -> str:
    return f"{value:.0f}×" if value >= 10 else f"{value:.1f}×"


def model_markdown(summary: dict[str, Any]) -> str:
    data, seconds, inference = summary["data"], summary["seconds"], summary["inference"]
    single, batch = inference["single"], inference["batch"]
    split, model, baseline = summary["metrics"]["split"], summary["metrics"]["model"], summary["metrics"]["baseline"]
    met = "met" if single["speedup_median"] >= TARGET_SPEEDUP else "**not met**"
    steps = "\n".join(f"| &nbsp;&nbsp;{STEP_NAMES.get(key, key)} | {value:.1f} |"
                      for key, value in seconds["steps"].items())
    n_batch = inference["batch_rows"]

    def latency_row(label: str, pair: dict[str, Any], key: str, scale: float, unit: str) -> str:
        onnx, sk = pair["onnx"][key] / scale, pair["sklearn"][key] / scale
        return f"| {label} ({unit}) | {onnx:,.1f} | {sk:,.1f} | {_ratio(sk / onnx)} |"

    def metric_row(name: str, values: dict[str, Any]) -> str:
        return f"| {name} | " + " | ".join(f"{values[k]:.3f}" for k in METRIC_KEYS) + " |"

    return "\n".join([
        f"## Model: training on {data['deals']:,} deals, ONNX vs scikit-learn inference",
        "",
        f"{data['deals']:,} synthetic deals ({BENCH_TENANTS} tenants, seed {BENCH_SEED}; {data['closed']:,} closed, "
        f"{data['win_rate']:.1%} won; CSV {data['csv_mb']:.0f} MB). Training is `train_model` (the code behind "
        "`dealpulse train`), timed on its own; its steps are the progress lines it prints.",
        "",
        "| step | seconds |",
        "| --- | ---: |",
        f"| generate the deals (`synthetic.generate`) | {seconds['generate']:.1f} |",
        f"| write the CSV | {seconds['write_csv']:.1f} |",
        f"| **train** (read, features, fit + calibrate, metrics, ONNX export + parity, write artifact) | "
        f"**{seconds['train']:.1f}** |",
        steps,
        "",
        f"Peak resident memory of the bench process: {summary['peak_rss_mb']:,.0f} MB. 1-minute load average "
        f"{summary['load_average']['before']:.2f} before the run and {summary['load_average']['after']:.2f} after "
        "(2 cores: anything else running shows up in the p99 rows first).",
        "",
        f"**Inference, side by side in one run** on the trained model, one thread each, the same float32 test-split "
        f"rows, calls interleaved ({single['onnx']['calls']:,.0f} single-row calls and {batch['onnx']['calls']:,.0f} "
        f"{n_batch:,}-row calls per engine, after warm-up). onnxruntime through `LoadedModel.predict_win` (as the "
        "scorer serves); scikit-learn through the calibrated pipeline's `predict_proba`.",
        "",
        "| latency | onnxruntime | scikit-learn | sklearn / onnx |",
        "| --- | ---: | ---: | ---: |",
        latency_row("single row, median", single, "median_us", 1, "µs"),
        latency_row("single row, p99", single, "p99_us", 1, "µs"),
        latency_row(f"{n_batch:,} rows, median", batch, "median_us", 1000, "ms"),
        latency_row(f"{n_batch:,} rows, p99", batch, "p99_us", 1000, "ms"),
        latency_row(f"per deal in a {n_batch:,}-row batch, median", batch, "median_us", n_batch, "µs"),
        latency_row("single row, back to back, median", inference["single_alone"], "median_us", 1, "µs"),
        latency_row("single row, back to back, p99", inference["single_alone"], "p99_us", 1, "µs"),
        "",
        "Interleaved rows are the comparison: each call follows one of the other engine, so neither keeps its "
        "caches warm, as on a scorer that does other work between deals. Back to back is each engine alone "
        f"({SINGLE_CALLS:,} calls in a row, warm caches), a best case.",
        "",
        f"Target ONNX ≥ {TARGET_SPEEDUP:.0f}× faster per single row (median): {met} "
        f"({_ratio(single['speedup_median'])}). Max |p_onnx − p_sklearn| on a {n_batch:,}-row batch: "
        f"{inference['parity_max_abs_error']:.1e}.",
        "",
        f"**Test metrics** on the time-based test split: {split['n_test']:,} deals closed "
        f"{split['test_closed_from'][:10]} to {split['test_closed_until'][:10]} (fit {split['n_fit']:,}, "
        f"calibration {split['n_calibration']:,}); win rate {model['win_rate']:.1%}.",
        "",
        "| | ROC-AUC | PR-AUC | Brier | ECE | log loss |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        metric_row("**model** (gradient boosting + sigmoid)", model),
        metric_row("segment-prior baseline", baseline),
    ])


def summary_lines(summary: dict[str, Any]) -> list[str]:
    seconds, single, batch = summary["seconds"], summary["inference"]["single"], summary["inference"]["batch"]
    model, baseline = summary["metrics"]["model"], summary["metrics"]["baseline"]
    return [
        f"model: {summary['data']['deals']:,} deals generated in {seconds['generate']:.1f} s, "
        f"trained in {seconds['train']:.1f} s",
        f"model: single row median onnx {single['onnx']['median_us']:.1f} µs vs sklearn "
        f"{single['sklearn']['median_us']:.1f} µs ({single['speedup_median']:.0f}×); "
        f"{summary['inference']['batch_rows']:,} rows {batch['onnx']['median_us'] / 1000:.2f} ms vs "
        f"{batch['sklearn']['median_us'] / 1000:.2f} ms ({batch['speedup_median']:.1f}×)",
        f"model: ROC-AUC {model['roc_auc']:.3f} vs baseline {baseline['roc_auc']:.3f}, "
        f"Brier {model['brier']:.3f} vs {baseline['brier']:.3f}",
    ]
