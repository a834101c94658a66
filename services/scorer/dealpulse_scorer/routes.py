"""Synchronous scoring: the same model and explanations as the stream, nothing persisted."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import ORJSONResponse

from dealpulse_common.deal import CanonicalDeal
from dealpulse_common.events import DealScoredData, utcnow
from dealpulse_scorer.handlers import ScoreInput, score_deals

router = APIRouter()


@router.post("/score", response_model=DealScoredData)
async def score(deal: CanonicalDeal, request: Request) -> ORJSONResponse:
    """Score one deal as of now with the tenant's active model (what-if; the score is not stored)."""
    model = request.app.state.registry.load_active(deal.tenant_id)
    now = utcnow()
    [result] = await asyncio.to_thread(score_deals, model, [ScoreInput(deal, now, source_event_id="sync")], now)
    return ORJSONResponse(result.data.model_dump(mode="json"))
