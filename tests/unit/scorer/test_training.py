"""Synthetic data, training, validation metrics and the ONNX parity gate."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from dealpulse_scorer.features import SegmentPriors, build_matrix
from dealpulse_scorer.model import ModelRegistry
from dealpulse_scorer.training import train as train_module
from dealpulse_scorer.training.dataset import CSV_COLUMNS, read_deals, write_csv
from dealpulse_scorer.training.synthetic import generate
from dealpulse_scorer.training.train import (
    NotEnoughData,
    ParityError,
    export_onnx,
    fit_calibrated,
    load_closed_deals,
    out_of_fold_matrix,
    train,
)
from tests.unit.scorer.helpers import TrainedModel, clone_version


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    return generate(2000, n_tenants=3, seed=11)


def test_generator_mixes_closed_and_open_deals_with_a_realistic_win_rate(rows: list[dict[str, object]]) -> None:
    closed = [r for r in rows if r["is_closed"]]
    open_ = [r for r in rows if not r["is_closed"]]
    assert len(open_) > 100 and len(closed) > 1000
    win_rate = sum(bool(r["is_won"]) for r in closed) / len(closed)
    assert 0.20 <= win_rate <= 0.45
    assert {r["tenant_id"] for r in rows} == {"demo", "tenant-2", "tenant-3"}
    assert all(r["is_won"] is None and r["closed_at"] is None for r in open_)
    assert all(datetime.fromisoformat(str(r["as_of"])) < datetime.fromisoformat(str(r["closed_at"])) for r in closed)


def test_generator_is_reproducible_per_seed() -> None:
    assert generate(200, 2, seed=3) == generate(200, 2, seed=3)
    assert generate(200, 2, seed=3) != generate(200, 2, seed=4)


def test_generator_outcome_depends_on_segments(rows: list[dict[str, object]]) -> None:
    closed = [r for r in generate(6000, 2, seed=5) if r["is_closed"]]
    rate = {
        source: np.mean([bool(r["is_won"]) for r in closed if r["lead_source"] == source])
        for source in ("referral", "outbound")
    }
    assert rate["referral"] > rate["outbound"] + 0.08  # effects +0.50 vs -0.30 on the logit


def test_csv_round_trip_keeps_point_in_time_state(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    path = write_csv(rows, tmp_path / "deals.csv")
    with path.open() as handle:
        assert tuple(next(csv.reader(handle))) == CSV_COLUMNS
    deals = read_deals(path)
    assert len(deals) == len(rows)
    for (deal, as_of, outcome), row in zip(deals, rows, strict=True):
        assert deal.deal_id == row["deal_id"] and as_of.isoformat() == row["as_of"]
        assert outcome == (row["is_won"] if row["is_closed"] else None)
        assert deal.history.close_date_push_count == row["close_date_push_count"]
        assert len(deal.qualification) == len(json.loads(str(row["qualification"])))


def test_model_beats_the_segment_prior_baseline(trained: TrainedModel) -> None:
    metrics = trained.model.metrics
    assert metrics["model"]["roc_auc"] > metrics["baseline"]["roc_auc"] + 0.05
    assert metrics["model"]["pr_auc"] > metrics["baseline"]["pr_auc"]
    assert metrics["model"]["brier"] < metrics["baseline"]["brier"]
    assert metrics["model"]["ece"] < 0.08
    assert abs(metrics["reference_win_probability"] - metrics["model"]["win_rate"]) < 0.1, "a typical deal"
    split = metrics["split"]
    assert split["test_closed_from"] >= split["train_closed_until"], "test outcomes come after training outcomes"


def test_artifact_records_provenance(trained: TrainedModel) -> None:
    manifest = trained.model.manifest
    assert manifest["version"] == trained.version and manifest["data_hash"].startswith("sha256:")
    assert manifest["parity_max_abs_error"] < 1e-5
    assert "dealpulse_scorer.training.train" in manifest["training_command"]
    folder = Path(trained.registry_root) / "global" / trained.version
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["model.onnx", "features.json", "priors.json", "metrics.json", "manifest.json"]
    )


def test_onnx_matches_sklearn_on_the_test_split(demo_data: Path) -> None:
    data, _ = load_closed_deals(demo_data, None)
    cut = int(len(data) * 0.8)
    train_split, test_split = data.take(np.arange(cut)), data.take(np.arange(cut, len(data)))
    priors = SegmentPriors.fit(train_split.deals, [bool(y) for y in train_split.outcomes])
    x_train = out_of_fold_matrix(train_split, seed=0)
    x_test = build_matrix(test_split.deals, test_split.as_ofs, priors)
    fit_end = int(len(x_train) * 0.8)
    model = fit_calibrated(
        x_train[:fit_end], train_split.outcomes[:fit_end], x_train[fit_end:], train_split.outcomes[fit_end:], seed=0
    )
    session = ort.InferenceSession(export_onnx(model), providers=["CPUExecutionProvider"])
    onnx_p = session.run(["probabilities"], {"features": x_test})[0][:, 1]
    assert np.max(np.abs(model.predict_proba(x_test)[:, 1] - onnx_p)) < 1e-5


def test_failed_parity_writes_nothing(demo_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train_module, "parity_error", lambda *_args: 1e-3)
    with pytest.raises(ParityError):
        train(demo_data, tmp_path / "registry")
    scope = tmp_path / "registry" / "global"
    assert not scope.exists() or list(scope.iterdir()) == []


def test_rows_observed_after_close_are_dropped(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    leaky = [dict(r) for r in rows]
    closed = [r for r in leaky if r["is_closed"]]
    for row in closed[:25]:
        row["as_of"] = row["closed_at"]
    path = write_csv(leaky, tmp_path / "leaky.csv")
    data, dropped = load_closed_deals(path, None)
    assert dropped["observed_after_close"] == 25
    assert len(data) == len(closed) - 25
    assert all(a < c for a, c in zip(data.as_ofs, data.closed_ats, strict=True))


def test_tenant_model_needs_enough_closed_deals(demo_data: Path, tmp_path: Path) -> None:
    with pytest.raises(NotEnoughData):
        train(demo_data, tmp_path / "registry", tenant_id="nobody")


def test_tenant_model_is_compared_with_the_global_one(trained: TrainedModel, fresh_registry: ModelRegistry) -> None:
    global_version = clone_version(trained, fresh_registry, "v1-global", minute=1)
    fresh_registry.promote(global_version)
    # tenant-2's CRM has been connected since before its first deal: the tenant with the most closed deals seen.
    version = train(trained.data_path, fresh_registry.root, tenant_id="tenant-2", seed=1)
    comparison = fresh_registry.load(version, "tenant-2").metrics["global_on_holdout"]
    assert comparison["version"] == global_version
    assert isinstance(comparison["tenant_model_beats_global"], bool)
    assert fresh_registry.active_version("tenant-2") is None, "training never promotes"


def test_metrics_hold_the_open_deals_risk_shares(trained: TrainedModel) -> None:
    """The training set's open deals, scored by the model with the scorer's rule: what live traffic should show."""
    rows = [r for r in csv.DictReader(trained.data_path.open()) if r["is_closed"] == "false"]
    open_deals = trained.model.metrics["open_deals"]
    assert open_deals["count"] == len(rows) > 100
    assert set(open_deals["shares"]) == {"low", "medium", "high", "critical"}
    assert abs(sum(open_deals["shares"].values()) - 1) < 1e-3
    tenants = Counter(r["tenant_id"] for r in rows)
    assert {t: s["count"] for t, s in open_deals["by_tenant"].items()} == dict(tenants)
    assert set(open_deals["drift_baseline"]) == set(trained.model.drift_baseline)
