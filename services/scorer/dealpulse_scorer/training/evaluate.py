"""``dealpulse evaluate``: score a registered model version on a data file and write a report for a person.

The artifact that serves is the one evaluated: the version is loaded from the registry as ``LoadedModel``
(onnxruntime, the artifact's own segment priors), never re-fitted or re-built with scikit-learn. Metrics come
from ``training.metrics`` on the file's closed deals, beside the segment-prior baseline on the same rows.

Which rows: with ``split="auto"``, the time-based test split when the file is the model's own training data
(same SHA-256), since every other row was used to fit or calibrate it; all closed deals otherwise (a fresh
holdout). The report (``report.md``, ``evaluation.json`` and four PNGs) goes to one folder.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dealpulse_scorer.explain import GROUP_NAMES, attribute
from dealpulse_scorer.features import GROUP_LABELS
from dealpulse_scorer.model import LoadedModel, ModelRegistry
from dealpulse_scorer.training import plots
from dealpulse_scorer.training.metrics import (
    BASELINE_METHOD,
    baseline_probabilities,
    classification_metrics,
    reliability_table,
)
from dealpulse_scorer.training.progress import Progress
from dealpulse_scorer.training.split import file_sha256, load_closed_deals, time_split

Split = Literal["auto", "test", "all"]
SPLITS: tuple[str, ...] = ("auto", "test", "all")
METRIC_ROWS: tuple[tuple[str, str], ...] = (
    ("roc_auc", "ROC-AUC (higher is better)"),
    ("pr_auc", "PR-AUC (higher is better)"),
    ("brier", "Brier score (lower is better)"),
    ("ece", "Expected calibration error (lower is better)"),
    ("log_loss", "Log loss (lower is better)"),
    ("mean_predicted", "Mean predicted win probability"),
    ("win_rate", "Observed win rate"),
)
MAX_EXPLAINED = 5_000  # deals whose attributions are averaged (a seeded sample above this)
TOP_FEATURES = 12
PLOT_FILES = {"roc": "roc.png", "calibration": "calibration.png", "distribution": "score_distribution.png",
              "features": "top_features.png"}


@dataclass
class Evaluation:
    version: str
    scope: str
    data_path: Path
    rows: str  # which rows were scored, in words
    n: int
    model: dict[str, Any]
    baseline: dict[str, Any]
    training: dict[str, Any] | None  # the metrics recorded at training, when these are the same rows
    top_features: list[dict[str, Any]]
    out_dir: Path
    plots: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def report(self) -> Path:
        return self.out_dir / "report.md"


def evaluate(
    registry_root: str | Path,
    version: str,
    data_path: str | Path,
    out_dir: str | Path,
    tenant_id: str | None = None,
    *,
    split: Split = "auto",
    progress: Progress | None = None,
    command: str | None = None,
) -> Evaluation:
    """Evaluate ``version`` (of the tenant's scope when ``tenant_id``) on the closed deals of ``data_path``
    (that tenant's only, when given) and write the report to ``out_dir``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    progress = progress if progress is not None else Progress("evaluate")
    model = ModelRegistry(registry_root).load(version, tenant_id)
    data_path, out = Path(data_path), Path(out_dir)
    same_data = model.manifest.get("data_hash") == f"sha256:{file_sha256(data_path)}"
    data, dropped = load_closed_deals(data_path, tenant_id, progress)
    use_test = split == "test" or (split == "auto" and same_data)
    rows = time_split(data)[1] if use_test else data
    if len(rows) == 0 or len(set(rows.outcomes)) < 2:
        raise ValueError(f"{data_path} has {len(rows)} usable closed deals; both outcomes are needed to evaluate")
    warnings = []
    if same_data and not use_test:
        warnings.append("These rows include the deals the model was fitted and calibrated on: the metrics are "
                        "optimistic. Use --split test (or auto) for the honest number.")

    with progress.step("scoring with the served ONNX model", total=len(rows), unit="deals") as tick:
        x = model.features_matrix(rows.deals, rows.as_ofs)
        p_model = model.predict_win(x)
        p_baseline = baseline_probabilities(x).astype(np.float64)
        tick(len(rows))
    y = rows.outcomes
    model_metrics = classification_metrics(y, p_model)
    baseline_metrics = classification_metrics(y, p_baseline)
    recorded = model.metrics
    training = recorded.get("model") if use_test and same_data else None

    with progress.step("explaining (occlusion against the reference deal)"):
        top = top_features(model, x, p_model)
    span = f"closed {rows.closed_ats[0]:%Y-%m-%d} to {rows.closed_ats[-1]:%Y-%m-%d}"
    described = (f"the time-based test split ({span}, the latest 20 % of {len(data):,} closed deals)" if use_test
                 else f"all {len(rows):,} closed deals ({span})")
    evaluation = Evaluation(
        version=model.version, scope=model.scope, data_path=data_path, rows=described, n=len(rows),
        model=model_metrics, baseline=baseline_metrics, training=training, top_features=top, out_dir=out,
        warnings=warnings,
    )
    with progress.step(f"writing the report to {out}"):
        out.mkdir(parents=True, exist_ok=True)
        evaluation.plots = _draw(out, y, p_model, p_baseline, model_metrics, baseline_metrics, top, len(x))
        reliability = reliability_table(y, p_model)
        markdown = _markdown(evaluation, model, reliability, dropped, same_data, split, Path(registry_root), command)
        evaluation.report.write_text(markdown)
        payload = {
            "version": model.version, "scope": model.scope, "data_path": str(data_path), "rows": described,
            "same_data_as_training": same_data, "model": model_metrics, "baseline": baseline_metrics,
            "baseline_method": BASELINE_METHOD, "recorded_at_training": training, "reliability": reliability,
            "top_features": top, "dropped_rows": dropped, "warnings": warnings,
        }
        (out / "evaluation.json").write_text(json.dumps(payload, indent=2, sort_keys=True))
    return evaluation


def top_features(model: LoadedModel, x: np.ndarray, win_probabilities: np.ndarray) -> list[dict[str, Any]]:
    """Feature groups by mean |impact| (win-probability points, occlusion against the artifact's reference
    deal, ``explain.attribute``), over at most ``MAX_EXPLAINED`` deals."""
    index = np.arange(len(x))
    if len(index) > MAX_EXPLAINED:
        index = np.sort(np.random.default_rng(0).choice(len(x), MAX_EXPLAINED, replace=False))
    _, impacts = attribute(model, x[index], win_probabilities[index])
    mean_abs, mean_signed = np.abs(impacts).mean(axis=0), impacts.mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")[:TOP_FEATURES]
    return [
        {"feature": GROUP_NAMES[j], "label": GROUP_LABELS[GROUP_NAMES[j]],
         "mean_abs_impact": round(float(mean_abs[j]), 3), "mean_impact": round(float(mean_signed[j]), 3),
         "deals": len(index)}
        for j in order
    ]


def _draw(out: Path, y: np.ndarray, p_model: np.ndarray, p_baseline: np.ndarray, model_metrics: dict[str, Any],
          baseline_metrics: dict[str, Any], top: list[dict[str, Any]], n: int) -> dict[str, Path]:
    return {
        "roc": plots.roc_png(out / PLOT_FILES["roc"], y, p_model, p_baseline, model_metrics["roc_auc"],
                             baseline_metrics["roc_auc"]),
        "calibration": plots.calibration_png(out / PLOT_FILES["calibration"], y, p_model, p_baseline,
                                             model_metrics["ece"], baseline_metrics["ece"]),
        "distribution": plots.distribution_png(out / PLOT_FILES["distribution"], y, p_model),
        "features": plots.top_features_png(out / PLOT_FILES["features"], [t["label"] for t in top],
                                           [t["mean_abs_impact"] for t in top], [t["mean_impact"] for t in top],
                                           min(n, MAX_EXPLAINED)),
    }


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _command(evaluation: Evaluation, registry_root: Path, tenant_id: str | None, split: str) -> str:
    words = ["dealpulse", "evaluate", "--model", evaluation.version, "--data", str(evaluation.data_path),
             "--out", str(evaluation.out_dir), "--registry", str(registry_root)]
    words += ["--tenant", tenant_id] if tenant_id else []
    words += ["--split", split] if split != "auto" else []
    return shlex.join(words)


def _markdown(evaluation: Evaluation, model: LoadedModel, reliability: list[dict[str, float]],
              dropped: dict[str, int], same_data: bool, split: str, registry_root: Path, command: str | None) -> str:
    manifest = model.manifest
    training = evaluation.training
    header = "| metric | model | segment-prior baseline |" + (" model at training (same rows) |" if training else "")
    rule = "| --- | ---: | ---: |" + (" ---: |" if training else "")
    metric_lines = [
        f"| {label} | {_number(evaluation.model[key])} | {_number(evaluation.baseline[key])} |"
        + (f" {_number(training.get(key, '—'))} |" if training else "")
        for key, label in METRIC_ROWS
    ]
    reliability_lines = [
        f"| {r['bin_low']:.1f}–{r['bin_high']:.1f} | {r['count']:,} | {r['mean_predicted']:.3f} | "
        f"{r['observed_win_rate']:.3f} |" for r in reliability
    ]
    feature_lines = [
        f"| {i} | {t['label']} (`{t['feature']}`) | {t['mean_abs_impact']:.2f} | {t['mean_impact']:+.2f} |"
        for i, t in enumerate(evaluation.top_features, start=1)
    ]
    origin = "the model's own training file (same SHA-256)" if same_data else "not the model's training file"
    dropped_text = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in dropped.items() if v) or "none"
    lines = [
        f"# Model evaluation: {evaluation.version}",
        "",
        f"- **Model:** `{evaluation.version}` ({evaluation.scope}), created {manifest.get('created_at', '?')[:19]}, "
        f"trained on `{manifest.get('data_path', '?')}`.",
        f"- **Data:** `{evaluation.data_path}` — {origin}.",
        f"- **Rows scored:** {evaluation.n:,} deals: {evaluation.rows}. Rows left out: {dropped_text}.",
        "- **Scored by** the ONNX artifact through onnxruntime, exactly as the scorer serves it.",
        f"- **Baseline:** {BASELINE_METHOD}, on the same rows.",
        *(f"- **Warning:** {w}" for w in evaluation.warnings),
        "",
        "## Metrics",
        "",
        header,
        rule,
        *metric_lines,
        "",
        "## ROC curve",
        "",
        f"![ROC curve]({PLOT_FILES['roc']})",
        "",
        "## Calibration",
        "",
        f"![Calibration curve]({PLOT_FILES['calibration']})",
        "",
        "| predicted bin | deals | mean predicted | observed win rate |",
        "| --- | ---: | ---: | ---: |",
        *reliability_lines,
        "",
        "## Score distribution by outcome",
        "",
        f"![Score distribution]({PLOT_FILES['distribution']})",
        "",
        "## Top features",
        "",
        "Mean |impact| of each feature group on the win probability, in points, against the model's reference "
        f"deal (occlusion, as in every score's factors), over {evaluation.top_features[0]['deals']:,} deals. "
        "The signed mean shows the direction on average.",
        "",
        f"![Top features]({PLOT_FILES['features']})",
        "",
        "| # | feature | mean abs. impact (points) | mean impact (points) |",
        "| ---: | --- | ---: | ---: |",
        *feature_lines,
        "",
        "## Reproduce",
        "",
        "```",
        command or _command(evaluation, registry_root, model.tenant_id, split),
        "```",
        "",
    ]
    return "\n".join(lines)


def summary_lines(evaluation: Evaluation) -> list[str]:
    """What the CLI prints: the metrics side by side, then where the report is."""
    training = evaluation.training
    lines = [f"{evaluation.version} ({evaluation.scope}) on {evaluation.n:,} deals: {evaluation.rows}",
             f"{'metric':<16}{'model':>10}{'baseline':>10}" + (f"{'training':>10}" if training else "")]
    for key, _label in METRIC_ROWS:
        row = f"{key:<16}{evaluation.model[key]:>10.4f}{evaluation.baseline[key]:>10.4f}"
        lines.append(row + (f"{training[key]:>10.4f}" if training and key in training else ""))
    lines.append("top features (mean |impact|, points): "
                 + ", ".join(f"{t['feature']} {t['mean_abs_impact']:.1f}" for t in evaluation.top_features[:5]))
    lines.extend(f"warning: {w}" for w in evaluation.warnings)
    lines.append(f"report: {evaluation.report}")
    return lines
