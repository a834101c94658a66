"""The evaluation report's figures, drawn with matplotlib's Agg canvas (no display, no pyplot global state).

Each function writes one PNG and returns its path. Offline only (matplotlib is in the training extra).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from dealpulse_scorer.training.metrics import CALIBRATION_BINS

MODEL_COLOUR = "#1f5fa8"
BASELINE_COLOUR = "#9a9a9a"
WON_COLOUR = "#2e8b57"
LOST_COLOUR = "#c0392b"
DPI = 110


def _figure(width: float = 6.4, height: float = 4.8) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)  # the Agg canvas renders the PNG
    return figure


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, format="png")
    return path


def roc_png(path: Path, outcomes: np.ndarray, model_p: np.ndarray, baseline_p: np.ndarray,
            model_auc: float, baseline_auc: float) -> Path:
    figure = _figure(5.6, 5.2)
    axes = figure.add_subplot()
    for probabilities, label, colour in (
        (model_p, f"model (ROC-AUC {model_auc:.3f})", MODEL_COLOUR),
        (baseline_p, f"segment-prior baseline ({baseline_auc:.3f})", BASELINE_COLOUR),
    ):
        false_positive, true_positive, _ = roc_curve(outcomes, probabilities)
        axes.plot(false_positive, true_positive, color=colour, linewidth=2, label=label)
    axes.plot([0, 1], [0, 1], linestyle=":", color="black", linewidth=1, label="chance")
    axes.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate (lost deals called wins)",
             ylabel="true positive rate (won deals called wins)", title="ROC curve")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    return _save(figure, path)


def _reliability(outcomes: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    index = np.minimum((probabilities * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    counts = np.bincount(index, minlength=CALIBRATION_BINS)
    filled = counts > 0
    predicted = np.bincount(index, weights=probabilities, minlength=CALIBRATION_BINS)[filled] / counts[filled]
    observed = np.bincount(index, weights=outcomes, minlength=CALIBRATION_BINS)[filled] / counts[filled]
    return predicted, observed, counts


def calibration_png(path: Path, outcomes: np.ndarray, model_p: np.ndarray, baseline_p: np.ndarray,
                    model_ece: float, baseline_ece: float) -> Path:
    figure = _figure(5.6, 6.4)
    top, bottom = figure.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    top.plot([0, 1], [0, 1], linestyle=":", color="black", linewidth=1, label="perfectly calibrated")
    for probabilities, label, colour in (
        (model_p, f"model (ECE {model_ece:.3f})", MODEL_COLOUR),
        (baseline_p, f"segment-prior baseline ({baseline_ece:.3f})", BASELINE_COLOUR),
    ):
        predicted, observed, _ = _reliability(outcomes, probabilities)
        top.plot(predicted, observed, marker="o", color=colour, linewidth=2, label=label)
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="observed win rate",
            title=f"Calibration: predicted vs observed ({CALIBRATION_BINS} equal-width bins)")
    top.grid(alpha=0.3)
    top.legend(loc="upper left")
    bins = np.linspace(0, 1, CALIBRATION_BINS + 1)
    bottom.hist(model_p, bins=bins, color=MODEL_COLOUR, alpha=0.8)
    bottom.set(xlabel="predicted win probability", ylabel="deals")
    bottom.grid(alpha=0.3)
    return _save(figure, path)


def distribution_png(path: Path, outcomes: np.ndarray, model_p: np.ndarray) -> Path:
    figure = _figure(6.4, 4.4)
    axes = figure.add_subplot()
    bins = [float(b) for b in np.linspace(0, 1, 41)]
    won = outcomes.astype(bool)
    axes.hist(model_p[~won], bins=bins, color=LOST_COLOUR, alpha=0.55, label=f"lost ({int((~won).sum()):,})")
    axes.hist(model_p[won], bins=bins, color=WON_COLOUR, alpha=0.55, label=f"won ({int(won.sum()):,})")
    # Risk categories (risk = round(100·(1 − p))): critical 76–100, high 51–75, medium 26–50, low 0–25.
    edges = (0.0, 0.245, 0.495, 0.745, 1.0)
    for boundary in edges[1:-1]:
        axes.axvline(boundary, color="black", linestyle=":", linewidth=1)
    for low, high, name in zip(edges, edges[1:], ("critical", "high", "medium", "low"), strict=False):
        axes.text((low + high) / 2, 1.01, f"{name} risk", transform=axes.get_xaxis_transform(), fontsize=8,
                  ha="center", va="bottom")
    axes.set(xlim=(0, 1), xlabel="predicted win probability", ylabel="deals")
    axes.set_title("Score distribution by outcome", pad=18)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right")
    return _save(figure, path)


def top_features_png(path: Path, labels: Sequence[str], mean_abs: Sequence[float], mean_signed: Sequence[float],
                     n_deals: int) -> Path:
    figure = _figure(6.8, 0.9 + 0.34 * len(labels))
    axes = figure.add_subplot()
    positions = np.arange(len(labels))[::-1]
    axes.barh(positions, mean_abs, color=MODEL_COLOUR, alpha=0.85, label="mean |impact|")
    axes.scatter(mean_signed, positions, color="black", marker="D", s=22, zorder=3, label="mean signed impact")
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_yticks(positions, labels=list(labels))
    axes.set(xlabel="win-probability points vs the reference deal",
             title=f"Top features by mean |attribution| ({n_deals:,} deals)")
    axes.grid(axis="x", alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    return _save(figure, path)
