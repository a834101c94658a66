"""Synchronous scoring (the same model and explanations as the stream, nothing persisted) and model performance.

Both answer only the gateway, which presents a service credential naming the tenant it verified the caller of
(``dealpulse_common.service_auth``); the tenant of the body or query must be that one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import ORJSONResponse

from dealpulse_common.deal import CanonicalDeal
from dealpulse_common.events import DealScoredData
from dealpulse_common.http_auth import CurrentService
from dealpulse_common.service import ServiceUnavailable
from dealpulse_common.service_auth import ServiceCaller
from dealpulse_common.tenancy import TENANT_ID_PATTERN
from dealpulse_scorer.performance import ModelPerformance, performance
from dealpulse_scorer.scoring import ScoringCore
from dealpulse_scorer.settings import ScorerSettings

router = APIRouter()
CALLERS = frozenset({"gateway"})
PROBLEMS: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing, invalid or expired service credential (problem details)"},
    403: {"description": "The caller is not the gateway, or the request names another tenant than its credential"},
}


def serving_core(request: Request) -> ScoringCore:
    """The scoring core, once a model serves (until then the scorer is not ready: see lifecycle.py)."""
    core: ScoringCore | None = getattr(request.app.state, "scoring", None)
    if core is None:
        raise ServiceUnavailable("no model is active yet", retry_after_s=10)
    return core


def _check_caller(caller: ServiceCaller, tenant_id: str) -> None:
    if caller.service not in CALLERS:
        raise HTTPException(403, f"{caller.service!r} may not call the scorer")
    if tenant_id != caller.tenant_id:
        raise HTTPException(403, "the request names another tenant than the caller's credential")


@router.post("/score", response_model=DealScoredData, responses=PROBLEMS)
async def score(deal: CanonicalDeal, request: Request, caller: CurrentService) -> ORJSONResponse:
    """Score one deal as of now with the tenant's serving model (what-if; the score is not stored)."""
    _check_caller(caller, deal.tenant_id)
    data = await serving_core(request).score_what_if(deal)
    return ORJSONResponse(data.model_dump(mode="json"))


@router.get("/model/performance", response_model=ModelPerformance, responses=PROBLEMS)
async def model_performance(
    request: Request, caller: CurrentService, tenant_id: Annotated[str, Query(pattern=TENANT_ID_PATTERN)]
) -> ModelPerformance:
    """The model serving ``tenant_id``: version, training metrics, drift of the tenant's live traffic, and the
    distribution of its recent scores. For the gateway, which checks the caller is that tenant's admin."""
    _check_caller(caller, tenant_id)
    state = request.app.state
    settings: ScorerSettings = state.settings
    core = serving_core(request)
    return await performance(
        state.runtime.pool, core.models, state.registry, state.drift, tenant_id,
        window_days=settings.performance_window_days, min_rows=settings.drift_min_rows,
        window_rows=settings.drift_window_rows,
    )
