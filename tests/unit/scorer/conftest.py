"""Shared fixtures: one small synthetic data set and one model trained on it, reused by every scorer test."""

from __future__ import annotations

from pathlib import Path

import pytest

from dealpulse_scorer.model import ModelRegistry
from dealpulse_scorer.training.progress import Progress
from dealpulse_scorer.training.synthetic import generate, write_csv
from dealpulse_scorer.training.train import train_model
from tests.unit.scorer.helpers import N_DEALS, TrainedModel


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scorer-data") / "deals.csv"
    write_csv(generate(N_DEALS, n_tenants=2, seed=7), path)
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, demo_data: Path) -> TrainedModel:
    root = tmp_path_factory.mktemp("scorer-registry")
    result = train_model(demo_data, root, seed=0, progress=Progress.silent())
    return TrainedModel(demo_data, root, result.version, ModelRegistry(root).load(result.version), result)


@pytest.fixture
def fresh_registry(tmp_path: Path, trained: TrainedModel) -> ModelRegistry:
    """An empty registry of its own, for tests that promote and roll back."""
    return ModelRegistry(tmp_path / "registry")
