"""``dealpulse evaluate``: the served artifact scored on a data file, with a report a person can read."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dealpulse_cli.main import main as cli_main
from dealpulse_scorer.training.dataset import read_deals, write_deals
from dealpulse_scorer.training.evaluate import PLOT_FILES, Evaluation, evaluate
from dealpulse_scorer.training.progress import Progress
from tests.unit.scorer.helpers import TrainedModel

METRICS = ("roc_auc", "pr_auc", "brier", "ece", "log_loss")
TOLERANCE = 2e-3  # ONNX and scikit-learn agree within 1e-5 per deal; metrics are rounded to 4 places
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def evaluation(trained: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    out = tmp_path_factory.mktemp("evaluation") / "report"
    return evaluate(trained.registry_root, trained.version, trained.data_path, out, progress=Progress.silent())


def test_report_and_plots_are_written(evaluation: Evaluation) -> None:
    assert evaluation.report.is_file()
    text = evaluation.report.read_text()
    assert evaluation.version in text and "segment-prior baseline" in text
    for name in PLOT_FILES.values():
        png = evaluation.out_dir / name
        assert png.is_file() and png.stat().st_size > 5_000, name
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert f"]({name})" in text, f"report links {name}"
    payload = json.loads((evaluation.out_dir / "evaluation.json").read_text())
    assert payload["same_data_as_training"] is True and payload["model"] == evaluation.model


def test_on_the_training_file_it_reproduces_the_training_metrics(
    evaluation: Evaluation, trained: TrainedModel
) -> None:
    recorded = trained.model.metrics
    assert evaluation.n == recorded["split"]["n_test"], "the same time-based test split"
    assert "test split" in evaluation.rows and not evaluation.warnings
    for key in METRICS:
        assert evaluation.model[key] == pytest.approx(recorded["model"][key], abs=TOLERANCE), key
        assert evaluation.baseline[key] == pytest.approx(recorded["baseline"][key], abs=TOLERANCE), key
    assert evaluation.training == recorded["model"]
    assert evaluation.model["roc_auc"] > evaluation.baseline["roc_auc"]


def test_top_features_come_from_the_models_attributions(evaluation: Evaluation) -> None:
    top = evaluation.top_features
    assert len(top) >= 5
    impacts = [t["mean_abs_impact"] for t in top]
    assert impacts == sorted(impacts, reverse=True) and impacts[0] > 1.0
    assert all(abs(t["mean_impact"]) <= t["mean_abs_impact"] + 1e-9 for t in top)


def test_cli_prints_the_metrics(trained: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli-report"
    code = cli_main(["evaluate", "--model", trained.version, "--data", str(trained.data_path), "--out", str(out),
                     "--registry", str(trained.registry_root)])
    assert code == 0 and (out / "report.md").is_file()
    printed = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines() if line.strip()}
    for key in METRICS:
        model_value, baseline_value, training_value = (float(v) for v in printed[key])
        assert model_value == pytest.approx(trained.model.metrics["model"][key], abs=TOLERANCE)
        assert baseline_value == pytest.approx(trained.model.metrics["baseline"][key], abs=TOLERANCE)
        assert training_value == trained.model.metrics["model"][key]


def test_parquet_copy_with_the_test_split_gives_the_same_numbers(
    trained: TrainedModel, evaluation: Evaluation, tmp_path: Path
) -> None:
    with trained.data_path.open(newline="") as handle:
        parquet = write_deals(list(csv.DictReader(handle)), tmp_path / "deals.parquet")  # CSV text → typed
    assert read_deals(parquet) == read_deals(trained.data_path)
    result = evaluate(trained.registry_root, trained.version, parquet, tmp_path / "pq", split="test",
                      progress=Progress.silent())
    assert result.n == evaluation.n
    for key in METRICS:
        assert result.model[key] == pytest.approx(evaluation.model[key], abs=1e-9)


def test_every_closed_deal_of_the_training_file_is_flagged_as_optimistic(
    trained: TrainedModel, evaluation: Evaluation, tmp_path: Path
) -> None:
    result = evaluate(trained.registry_root, trained.version, trained.data_path, tmp_path / "all", split="all",
                      progress=Progress.silent())
    assert result.n > evaluation.n and result.training is None
    assert result.warnings and "optimistic" in result.warnings[0]
