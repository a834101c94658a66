"""Train, validate, export and register a deal-win model.

Method (docs/MODEL.md has the why and the numbers):
1. closed deals only, each observed at ``as_of`` < ``closed_at``;
2. time-based split by ``closed_at``: the latest 20% are the test split; of the rest, the latest 20% calibrate
   and the earlier 80% fit — so both calibration and testing look at later outcomes than the fit saw;
3. segment priors learned on the training split only; training rows get out-of-fold priors so a row's own
   label never feeds its own prior feature;
4. GradientBoostingClassifier, Platt (sigmoid) calibration on the calibration slice;
5. metrics for the model and the segment-prior baseline on the same test split;
6. ONNX export (zipmap=False) with a parity check over the whole test split; on failure nothing is written.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import skl2onnx
import sklearn
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import KFold

from dealpulse_common.deal import CanonicalDeal
from dealpulse_scorer.drift import drift_baseline
from dealpulse_scorer.features import FEATURE_NAMES, N_FEATURES, SegmentPriors, build_matrix
from dealpulse_scorer.model import (
    IncompatibleModel,
    ModelRegistry,
    NoActiveModel,
    features_json_payload,
    write_json_atomic,
)
from dealpulse_scorer.training.dataset import write_csv
from dealpulse_scorer.training.metrics import (
    BASELINE_METHOD,
    baseline_probabilities,
    classification_metrics,
    reliability_table,
    risk_distribution,
)
from dealpulse_scorer.training.progress import Progress
from dealpulse_scorer.training.split import (
    ClosedDeals,
    calibration_start,
    file_sha256,
    load_closed_deals,
    time_split,
)
from dealpulse_scorer.training.synthetic import DATA_VERSION, demo_anchor, generate

GB_PARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "learning_rate": 0.05,
    "max_depth": 3,
    "subsample": 0.8,
    "min_samples_leaf": 20,
}
PRIOR_FOLDS = 5
PARITY_TOLERANCE = 1e-5
MIN_CLOSED_DEALS = 100
MIN_CLOSED_DEALS_TENANT = 200  # DESIGN.md: a tenant model needs this many closed deals
ONNX_OPSETS = {"": 17, "ai.onnx.ml": 3}
DEMO_DEALS = 20000
DEMO_TENANTS = 3


class TrainingError(RuntimeError):
    pass


class NotEnoughData(TrainingError):
    pass


class ParityError(TrainingError):
    pass


@dataclass
class TrainResult:
    """A registered version and what produced it: the fitted scikit-learn estimator (the exported ONNX graph's
    source, kept for benchmarks and comparisons) and the test split it was measured on."""

    version: str
    path: Path
    estimator: CalibratedClassifierCV
    x_test: np.ndarray
    y_test: np.ndarray
    metrics: dict[str, Any]
    manifest: dict[str, Any]


def out_of_fold_matrix(data: ClosedDeals, seed: int, tick: Callable[[int], None] | None = None) -> np.ndarray:
    """Feature rows whose prior columns come from priors fitted without the row's own fold."""
    matrix = np.empty((len(data), N_FEATURES), dtype=np.float32)
    folds = KFold(n_splits=PRIOR_FOLDS, shuffle=True, random_state=seed)
    for rest, fold in folds.split(np.arange(len(data))):
        priors = SegmentPriors.fit([data.deals[i] for i in rest], [bool(data.outcomes[i]) for i in rest])
        matrix[fold] = build_matrix([data.deals[i] for i in fold], [data.as_ofs[i] for i in fold], priors)
        if tick is not None:
            tick(len(fold))
    return matrix


def fit_calibrated(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_calibrate: np.ndarray,
    y_calibrate: np.ndarray,
    seed: int,
    tick: Callable[[int], None] | None = None,
) -> CalibratedClassifierCV:
    def monitor(_stage: int, _estimator: object, _locals: object) -> bool:
        if tick is not None:
            tick(1)
        return False  # never stop early

    booster = GradientBoostingClassifier(random_state=seed, **GB_PARAMS).fit(x_fit, y_fit, monitor=monitor)
    calibrated = CalibratedClassifierCV(FrozenEstimator(booster), method="sigmoid").fit(x_calibrate, y_calibrate)
    # skl2onnx has no converter for FrozenEstimator; the frozen wrapper only delegates, so hand the
    # converter the booster itself (predictions are unchanged; the parity check below proves it).
    calibrated.calibrated_classifiers_[0].estimator = booster
    return calibrated


def export_onnx(model: CalibratedClassifierCV) -> bytes:
    onnx_model = convert_sklearn(
        model,
        initial_types=[("features", FloatTensorType([None, N_FEATURES]))],
        options={id(model): {"zipmap": False}},
        target_opset=ONNX_OPSETS,
    )
    return bytes(onnx_model.SerializeToString())


def parity_error(model: CalibratedClassifierCV, onnx_bytes: bytes, rows: np.ndarray) -> float:
    """max |p_sklearn − p_onnx| with both fed the same float32 rows (trees compare in float32 either way)."""
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    onnx_p = session.run(["probabilities"], {"features": rows})[0][:, 1]
    return float(np.max(np.abs(model.predict_proba(rows)[:, 1] - onnx_p)))


def typical_deal(rows: np.ndarray, probabilities: np.ndarray, base_rate: float) -> np.ndarray:
    """The explanation reference: one real training deal, typical in both senses — its predicted win chance
    is among the 5% closest to the base rate, and among those it is nearest the per-feature median (in
    inter-quartile units). A real deal keeps the reference coherent (no impossible mix of medians), and a
    base-rate win chance keeps "against a typical deal" honest; the plain median row scored far lower."""
    median = np.quantile(rows, 0.5, axis=0, method="lower")
    spread = np.quantile(rows, 0.75, axis=0) - np.quantile(rows, 0.25, axis=0)
    spread[spread <= 0] = 1.0
    gap = np.abs(probabilities - base_rate)
    candidates = np.flatnonzero(gap <= np.quantile(gap, 0.05))
    distance = (np.abs(rows[candidates] - median) / spread).sum(axis=1)
    reference: np.ndarray = rows[candidates[int(np.argmin(distance))]].astype(np.float32)
    return reference


def _version_name(created_at: datetime, data_hash: str, seed: int, tenant_id: str | None) -> str:
    salt = f"{data_hash}|{seed}|{tenant_id}|{created_at.isoformat()}".encode()
    return f"v{created_at:%Y%m%d-%H%M%S}-{hashlib.sha256(salt).hexdigest()[:6]}"


def _compare_with_global(
    registry: ModelRegistry, test: ClosedDeals, model_metrics: dict[str, Any]
) -> dict[str, Any] | None:
    """A tenant model must beat the global one on the tenant's own holdout (DESIGN.md, cold start)."""
    try:
        global_model = registry.load_active(None)
    except NoActiveModel:
        return None
    probabilities = global_model.predict_win(global_model.features_matrix(test.deals, test.as_ofs))
    global_metrics = classification_metrics(test.outcomes, probabilities)
    beats = model_metrics["roc_auc"] > global_metrics["roc_auc"] and model_metrics["brier"] < global_metrics["brier"]
    return {"version": global_model.version, "metrics": global_metrics, "tenant_model_beats_global": beats}


def train(
    data_path: str | Path,
    registry_root: str | Path,
    tenant_id: str | None = None,
    seed: int = 0,
    *,
    command: str | None = None,
    progress: Progress | None = None,
) -> str:
    """Train on the closed deals of ``data_path`` (one tenant's, if ``tenant_id``), register a new version
    under ``registry_root`` and return its name. Does not promote. Progress goes to stderr unless
    ``progress`` says otherwise."""
    return train_model(data_path, registry_root, tenant_id, seed, command=command, progress=progress).version


def train_model(
    data_path: str | Path,
    registry_root: str | Path,
    tenant_id: str | None = None,
    seed: int = 0,
    *,
    command: str | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """``train``, returning the registered version together with its scikit-learn estimator and test split."""
    started = time.perf_counter()
    progress = progress if progress is not None else Progress("train")
    data_path, registry = Path(data_path), ModelRegistry(registry_root)
    data_hash = file_sha256(data_path)
    open_deals: list[tuple[CanonicalDeal, datetime]] = []
    data, dropped = load_closed_deals(data_path, tenant_id, progress, open_deals)
    minimum = MIN_CLOSED_DEALS if tenant_id is None else MIN_CLOSED_DEALS_TENANT
    if len(data) < minimum:
        raise NotEnoughData(f"{len(data)} closed deals with outcomes; at least {minimum} needed")

    train_split, test_split = time_split(data)
    fit_end = calibration_start(len(train_split))
    if len(set(test_split.outcomes)) < 2 or len(set(train_split.outcomes[fit_end:])) < 2:
        raise NotEnoughData("the calibration or test split holds only one outcome")

    with progress.step("point-in-time features", total=len(data), unit="deals", key="features") as tick:
        priors = SegmentPriors.fit(train_split.deals, [bool(y) for y in train_split.outcomes])
        x_train = out_of_fold_matrix(train_split, seed, tick)
        x_test = build_matrix(test_split.deals, test_split.as_ofs, priors)
        tick(len(test_split))
    y_train = train_split.outcomes
    label = f"fitting {GB_PARAMS['n_estimators']} trees on {fit_end:,} deals, calibrating on {len(y_train) - fit_end:,}"
    with progress.step(label, total=GB_PARAMS["n_estimators"], unit="trees", key="fit_and_calibrate") as tick:
        model = fit_calibrated(x_train[:fit_end], y_train[:fit_end], x_train[fit_end:], y_train[fit_end:], seed, tick)
    fitted_seconds = time.perf_counter() - started

    with progress.step("test metrics, ONNX export and parity check", key="metrics_export_parity"):
        p_test = model.predict_proba(x_test)[:, 1]
        model_metrics = classification_metrics(test_split.outcomes, p_test)
        baseline_metrics = classification_metrics(test_split.outcomes, baseline_probabilities(x_test))
        onnx_bytes = export_onnx(model)
        max_error = parity_error(model, onnx_bytes, x_test)
    if not max_error < PARITY_TOLERANCE:
        raise ParityError(f"ONNX and scikit-learn disagree by {max_error:.2e} (limit {PARITY_TOLERANCE:.0e})")

    reference = typical_deal(x_train, model.predict_proba(x_train)[:, 1], float(y_train.mean()))
    # Drift compares live features with the training split's as the scorer computes them: with the shipped priors,
    # not the out-of-fold ones the fit needed (those differ per fold, and every prior would read as drifted).
    x_served = build_matrix(train_split.deals, train_split.as_ofs, priors)
    created_at = datetime.now(UTC)
    version = _version_name(created_at, data_hash, seed, tenant_id)
    metrics = _metrics_payload(model, model_metrics, baseline_metrics, p_test, reference, train_split, test_split)
    metrics["split"]["dropped_rows"] = dropped
    metrics["open_deals"] = open_deal_risk(model, open_deals, priors)
    if tenant_id is not None:
        metrics["global_on_holdout"] = _compare_with_global(registry, test_split, model_metrics)
    train_seconds = time.perf_counter() - started
    manifest = {
        "version": version,
        "created_at": created_at.isoformat(),
        "scope": "global" if tenant_id is None else f"tenant:{tenant_id}",
        "tenant_id": tenant_id,
        "data_path": str(data_path),
        "data_hash": f"sha256:{data_hash}",
        "data_rows_used": len(data),
        "seed": seed,
        "training_command": command or _default_command(data_path, registry_root, tenant_id, seed),
        "parity_max_abs_error": max_error,
        "parity_rows": len(x_test),
        "fit_seconds": round(fitted_seconds, 2),
        "train_seconds": round(train_seconds, 2),
        "step_seconds": dict(progress.timings),
        "estimator": {"type": "GradientBoostingClassifier + sigmoid calibration", "params": GB_PARAMS},
        "onnx_opsets": ONNX_OPSETS,
        "libraries": {
            "scikit-learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__,
            "onnxruntime": ort.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
    }
    staged = registry.staging_dir(tenant_id)
    try:
        (staged / "model.onnx").write_bytes(onnx_bytes)
        (staged / "priors.json").write_text(priors.to_json())
        write_json_atomic(staged / "features.json", features_json_payload(reference, drift_baseline(x_served)))
        write_json_atomic(staged / "metrics.json", metrics)
        write_json_atomic(staged / "manifest.json", manifest)
        path = registry.add_version(staged, version, tenant_id)
    finally:
        shutil.rmtree(staged, ignore_errors=True)  # gone already when published (renamed)
    progress.note(f"registered {version} in {path.parent}")
    return TrainResult(version, path, model, x_test, test_split.outcomes, metrics, manifest)


def _metrics_payload(
    model: CalibratedClassifierCV,
    model_metrics: dict[str, Any],
    baseline_metrics: dict[str, Any],
    p_test: np.ndarray,
    reference: np.ndarray,
    train_split: ClosedDeals,
    test_split: ClosedDeals,
) -> dict[str, Any]:
    calibrator = model.calibrated_classifiers_[0].calibrators[0]
    booster = model.calibrated_classifiers_[0].estimator
    fit_end = calibration_start(len(train_split))
    return {
        "model": model_metrics,
        "baseline": baseline_metrics,
        "baseline_method": BASELINE_METHOD,
        "reliability": reliability_table(test_split.outcomes, p_test),
        "split": {
            "method": "time-based by closed_at",
            "n_fit": fit_end,
            "n_calibration": len(train_split) - fit_end,
            "n_test": len(test_split),
            "train_closed_until": train_split.closed_ats[-1].isoformat(),
            "test_closed_from": test_split.closed_ats[0].isoformat(),
            "test_closed_until": test_split.closed_ats[-1].isoformat(),
        },
        "calibration": {"method": "sigmoid", "a": float(calibrator.a_), "b": float(calibrator.b_)},
        "reference_win_probability": round(float(model.predict_proba(reference.reshape(1, -1))[0, 1]), 4),
        "feature_importance": {
            name: round(float(v), 4) for name, v in zip(FEATURE_NAMES, booster.feature_importances_, strict=True)
        },
    }


def open_deal_risk(model: CalibratedClassifierCV, open_deals: Sequence[tuple[CanonicalDeal, datetime]],
                   priors: SegmentPriors) -> dict[str, Any]:
    """The data set's open deals scored by the trained model (``metrics.risk_distribution``)."""
    x_open = build_matrix([deal for deal, _ in open_deals], [as_of for _, as_of in open_deals], priors)
    p_open = model.predict_proba(x_open)[:, 1] if len(x_open) else np.empty(0)
    return risk_distribution(p_open, x_open, [deal.tenant_id for deal, _ in open_deals])


def _default_command(data_path: Path, registry_root: str | Path, tenant_id: str | None, seed: int) -> str:
    tenant = f" --tenant {tenant_id}" if tenant_id else ""
    return (
        f"python -m dealpulse_scorer.training.train --data {data_path} --registry {registry_root}{tenant} --seed {seed}"
    )


def _servable(registry: ModelRegistry, version: str) -> bool:
    try:
        registry.load(version)
    except IncompatibleModel:
        return False
    return True


def train_and_promote_demo(
    registry_root: str | Path,
    data_dir: str | Path,
    *,
    n_deals: int = DEMO_DEALS,
    n_tenants: int = DEMO_TENANTS,
    seed: int = 0,
    force: bool = False,
) -> str:
    """For ``make run``: return the active global version, first generating a demo data set, training on
    it and promoting the result when no global model is active, when the active one was trained on an older
    meaning of the features (an upgrade), or when ``force``. An existing demo file of the same generator version
    and size is reused, so a rerun trains on the same data."""
    registry = ModelRegistry(registry_root)
    active = registry.active_version()
    if active is not None and not force and _servable(registry, active):
        return active
    anchor = demo_anchor()  # the demo feed's world is drawn at the same date
    data_path = Path(data_dir) / f"demo-deals-v{DATA_VERSION}-{anchor.date()}-{n_deals}-{n_tenants}-{seed}.csv"
    if not data_path.is_file():
        write_csv(generate(n_deals, n_tenants, seed, anchor=anchor), data_path)
    version = train(data_path, registry_root, seed=seed)
    registry.promote(version, reason="demo bootstrap")
    return version
