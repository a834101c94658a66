"""Synchronous scoring (the same model and explanations as the stream, nothing persisted) and model performance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import ORJSONResponse

from dealpulse_common.deal import CanonicalDeal
from dealpulse_common.events import DealScoredData
from dealpulse_common.service import ServiceUnavailable
from dealpulse_common.tenancy import TENANT_ID_PATTERN
from dealpulse_scorer.performance import ModelPerformance, performance
from dealpulse_scorer.scoring import ScoringCore
from dealpulse_scorer.settings import ScorerSettings

router = APIRouter()


def serving_core(request: Request) -> ScoringCore:
    """The scoring core, once a model serves (until then the scorer is not ready: see lifecycle.py)."""
    core: ScoringCore | None = getattr(request.app.state, "scoring", None)
    if core is None:
        raise ServiceUnavailable("no model is active yet", retry_after_s=10)
    return core


@router.post("/score", response_model=DealScoredData)
async def score(deal: CanonicalDeal, request: Request) -> ORJSONResponse:
    """Score one deal as of now with the tenant's serving model (what-if; the score is not stored)."""
    data = await serving_core(request).score_what_if(deal)
    return ORJSONResponse(data.model_dump(mode="json"))


@router.get("/model/performance", response_model=ModelPerformance)
async def model_performance(
    request: Request, tenant_id: Annotated[str, Query(pattern=TENANT_ID_PATTERN)]
) -> ModelPerformance:
    """The model serving ``tenant_id``: version, training metrics, drift of the tenant's live traffic, and the
    distribution of its recent scores. For the gateway, which checks the caller is that tenant's admin."""
    state = request.app.state
    settings: ScorerSettings = state.settings
    core = serving_core(request)
    return await performance(
        state.runtime.pool, core.models, state.registry, state.drift, tenant_id,
        window_days=settings.performance_window_days, min_rows=settings.drift_min_rows,
        window_rows=settings.drift_window_rows,
    )
