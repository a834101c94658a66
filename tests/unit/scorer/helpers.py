"""Helpers shared by the scorer tests: a typical deal, clones of a trained artifact."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from dealpulse_common.deal import (
    CanonicalDeal,
    Confidence,
    DealHistory,
    EvidenceStrength,
    ForecastCategory,
    QualificationCategory,
    QualificationEntry,
    Stage,
)
from dealpulse_scorer.model import LoadedModel, ModelRegistry
from dealpulse_scorer.training.train import TrainResult

N_DEALS = 3000
AS_OF = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


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


def make_deal(**overrides: object) -> CanonicalDeal:
    """A mid-funnel open deal with qualification, as of AS_OF."""
    qualification = {
        QualificationCategory.CHAMPION: QualificationEntry(
            score=2, evidence_strength=EvidenceStrength.MODERATE, confidence=Confidence.MEDIUM
        ),
        QualificationCategory.ECONOMIC_BUYER: QualificationEntry(score=1, confidence=Confidence.LOW),
        QualificationCategory.PAPER: QualificationEntry(score=2, confidence=Confidence.HIGH),
        QualificationCategory.PROCESS: QualificationEntry(score=2, confidence=Confidence.HIGH),
        QualificationCategory.PAIN: QualificationEntry(score=3, confidence=Confidence.HIGH),
    }
    fields: dict[str, object] = {
        "tenant_id": "demo",
        "deal_id": "D-1",
        "name": "Globex — core",
        "amount": 42000.0,
        "stage": Stage.PROPOSAL,
        "forecast_category": ForecastCategory.BEST_CASE,
        "industry": "software",
        "region": "na",
        "product_type": "core",
        "lead_source": "inbound",
        "created_at": AS_OF - timedelta(days=60),
        "expected_close_date": date(2026, 12, 10),
        "last_activity_at": AS_OF - timedelta(days=3),
        "qualification": qualification,
        "history": DealHistory(
            stage_entered_at=AS_OF - timedelta(days=12),
            close_date_push_count=1,
            amount_change_count=0,
            activity_count_30d=6,
            days_since_last_activity=3.0,
        ),
    }
    fields.update(overrides)
    return CanonicalDeal.model_validate(fields)
