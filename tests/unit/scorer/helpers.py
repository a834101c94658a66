"""Helpers shared by the scorer tests: a trained artifact and clones of it (the typical deal is tests.events)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dealpulse_scorer.model import LoadedModel, ModelRegistry
from dealpulse_scorer.training.train import TrainResult

N_DEALS = 3000


@dataclass(frozen=True)
class TrainedModel:
    data_path: Path
    registry_root: Path
    version: str
    model: LoadedModel
    result: TrainResult | None = None  # the estimator and test split behind the artifact


def clone_version(
    trained: TrainedModel, registry: ModelRegistry, version: str, minute: int, tenant_id: str | None = None
) -> str:
    """Copy the trained artifact under a new version name created ``minute`` minutes into 2026 (training
    five times would be slow)."""
    source = Path(trained.registry_root) / "global" / trained.version
    staged = registry.staging_dir(tenant_id)
    shutil.rmtree(staged)
    shutil.copytree(source, staged)
    manifest = json.loads((staged / "manifest.json").read_text())
    manifest["version"] = version
    manifest["created_at"] = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)).isoformat()
    (staged / "manifest.json").write_text(json.dumps(manifest))
    registry.add_version(staged, version, tenant_id)
    return version

