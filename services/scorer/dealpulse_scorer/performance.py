"""``GET /model/performance``: how the model serving one tenant was trained, how it scores, how its inputs drift."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
from pydantic import BaseModel, Field

from dealpulse_common.db import tenant_transaction
from dealpulse_common.events import RiskCategory, utcnow
from dealpulse_scorer import store
from dealpulse_scorer.drift import DriftMonitor, population_stability
from dealpulse_scorer.model import ModelRegistry
from dealpulse_scorer.serving import ServingModels

MAJOR_SHIFT = 0.25  # PSI above this is a major shift: the feature counts as skewed (docs/MODEL.md)
SKEWED_SHARE_PP = 5.0  # a live risk-category share this far from training's open-deal share is skewed
HISTORY_ENTRIES = 10


class DriftReport(BaseModel):
    population: str = Field(description="Whose live traffic: the tenant's own deals")
    rows: int = Field(description="Live feature vectors in the rolling window")
    window_rows: int = Field(description="Capacity of the rolling window")
    min_rows: int = Field(description="Below this many rows no PSI is reported (too noisy)")
    psi: dict[str, float] = Field(description="Population stability index per feature vs the training split")
    major_shift: list[str] = Field(description=f"Features with PSI above {MAJOR_SHIFT}")


class PredictionDistribution(BaseModel):
    since: datetime
    open_deals: int
    by_category: dict[str, int]
    by_model_version: dict[str, int]
    mean_win_probability: float | None


class SkewReport(BaseModel):
    """The tenant's open deals as scored live against the training set's open deals scored by the same version:
    risk-category shares and the PSI of every feature (the latest feature vector of each open deal)."""

    reference: str = Field(description="Which training open deals: the tenant's own when the training set held "
                                       "them, else all of them")
    reference_deals: int = Field(description="Training open deals the reference rests on")
    open_deals: int = Field(description="Live open deals compared (latest score of each, within the window)")
    live_shares: dict[str, float] = Field(description="Share of the live open deals per risk category")
    training_shares: dict[str, float] | None = Field(
        description="Share of the reference's deals per risk category (none for a version trained before this "
                    "was recorded)")
    difference_pp: dict[str, float] = Field(description="live − training, in percentage points")
    psi: dict[str, float] = Field(description="PSI per feature, live open deals against the reference (empty below "
                                              "min_rows live open deals)")
    share_threshold_pp: float = Field(description="A category further apart than this counts as skewed")
    psi_threshold: float = Field(description="A feature with PSI above this counts as skewed")
    skewed_categories: list[str]
    skewed_features: list[str]
    skewed: bool


def training_reference(metrics: dict[str, Any], tenant_id: str) -> tuple[str, dict[str, Any] | None]:
    """The training open deals to compare a tenant's live ones with: its own if the training set had them."""
    open_deals = metrics.get("open_deals")
    if not open_deals:
        return "none recorded", None
    own = open_deals.get("by_tenant", {}).get(tenant_id)
    if own and own.get("count"):
        return f"training open deals of tenant {tenant_id}", dict(own)
    return "all training open deals", dict(open_deals)


def skew_report(by_category: dict[str, int], reference: tuple[str, dict[str, Any] | None],
                psi: dict[str, float]) -> SkewReport:
    name, training = reference
    total = sum(by_category.values())
    live = {category: round(count / total, 4) if total else 0.0 for category, count in by_category.items()}
    shares = training.get("shares") if training else None
    difference = ({c: round(100 * (live.get(c, 0.0) - float(shares.get(c, 0.0))), 1) for c in live}
                  if shares and total else {})
    categories = sorted(c for c, pp in difference.items() if abs(pp) > SKEWED_SHARE_PP)
    features = sorted(feature for feature, value in psi.items() if value > MAJOR_SHIFT)
    return SkewReport(reference=name, reference_deals=int(training.get("count", 0)) if training else 0,
                      open_deals=total, live_shares=live, training_shares=shares, difference_pp=difference, psi=psi,
                      share_threshold_pp=SKEWED_SHARE_PP, psi_threshold=MAJOR_SHIFT, skewed_categories=categories,
                      skewed_features=features, skewed=bool(categories or features))


def _open_deal_psi(reference: dict[str, Any] | None, rows: np.ndarray, min_rows: int) -> dict[str, float]:
    baseline = reference.get("drift_baseline") if reference else None
    if not baseline or len(rows) < min_rows:
        return {}
    return {name: round(value, 4) for name, value in population_stability(baseline, rows).items()}


class ModelPerformance(BaseModel):
    tenant_id: str
    scope: str = Field(description="global, or tenant:<id> when the tenant has its own model")
    active_version: str
    tenant_model: bool
    created_at: str | None = Field(description="When the active version was trained (last trained)")
    last_trained: str | None
    training_rows: int | None
    metrics: dict[str, Any] = Field(description="metrics.json of the active version (test split)")
    drift: DriftReport
    predictions: PredictionDistribution
    skew: SkewReport
    history: list[dict[str, Any]] = Field(description="Latest promotions and rollbacks of the scope")


async def performance(
    pool: asyncpg.Pool, models: ServingModels, registry: ModelRegistry, drift: DriftMonitor, tenant_id: str,
    *, window_days: int, min_rows: int, window_rows: int,
) -> ModelPerformance:
    model = models.for_tenant(tenant_id)
    window = drift.for_tenant(tenant_id, model)
    rows = window.rows if window is not None else 0
    psi = {name: round(value, 4) for name, value in window.psi().items()} if window and rows >= min_rows else {}
    since = utcnow() - timedelta(days=window_days)
    async with tenant_transaction(pool, tenant_id) as conn:
        counts = await store.prediction_distribution(conn, tenant_id, since)
        open_features = await store.open_deal_features(conn, tenant_id, since)
    reference = training_reference(model.metrics, tenant_id)
    total = sum(int(r["deals"]) for r in counts)
    by_category = {category.value: 0 for category in RiskCategory}
    by_version: dict[str, int] = {}
    for r in counts:
        by_category[r["risk_category"]] = by_category.get(r["risk_category"], 0) + int(r["deals"])
        version = r["model_version"] or "unknown"
        by_version[version] = by_version.get(version, 0) + int(r["deals"])
    mean = sum(float(r["mean_win_probability"]) * int(r["deals"]) for r in counts) / total if total else None
    created_at = model.manifest.get("created_at")
    return ModelPerformance(
        tenant_id=tenant_id, scope=model.scope, active_version=model.version,
        tenant_model=model.tenant_id is not None, created_at=created_at, last_trained=created_at,
        training_rows=model.manifest.get("data_rows_used"), metrics=model.metrics,
        drift=DriftReport(population=f"tenant:{tenant_id}", rows=rows, window_rows=window_rows, min_rows=min_rows,
                          psi=psi, major_shift=sorted(name for name, value in psi.items() if value > MAJOR_SHIFT)),
        predictions=PredictionDistribution(since=since, open_deals=total, by_category=by_category,
                                           by_model_version=by_version,
                                           mean_win_probability=round(mean, 4) if mean is not None else None),
        skew=skew_report(by_category, reference, _open_deal_psi(reference[1], open_features, min_rows)),
        history=registry.history(model.tenant_id)[-HISTORY_ENTRIES:],
    )
