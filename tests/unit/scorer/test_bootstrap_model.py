"""``dealpulse bootstrap-model`` (the bootstrap Job): a first global model for an empty registry, and nothing done to
a registry that has one, so the Job can run on every deploy."""

from __future__ import annotations

from pathlib import Path

import pytest

from dealpulse_cli.main import main
from dealpulse_scorer.model import ModelRegistry
from tests.unit.scorer.helpers import TrainedModel, clone_version


def test_trains_and_promotes_on_the_data_given_when_nothing_is_active(
        demo_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = tmp_path / "registry"
    assert main(["bootstrap-model", "--data", str(demo_data), "--registry", str(registry)]) == 0
    active = ModelRegistry(registry).active_version()
    assert active is not None and capsys.readouterr().out.strip() == f"active: {active}"
    assert [info.version for info in ModelRegistry(registry).list_versions()] == [active]


def test_leaves_an_active_model_alone(trained: TrainedModel, fresh_registry: ModelRegistry, demo_data: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    fresh_registry.promote(clone_version(trained, fresh_registry, "v-serving", minute=1))
    assert main(["bootstrap-model", "--data", str(demo_data), "--registry", str(fresh_registry.root)]) == 0
    assert capsys.readouterr().out.strip() == "active: v-serving"
    assert [info.version for info in fresh_registry.list_versions()] == ["v-serving"]
