"""REST reads of a tenant's deals: every open deal (filtered, sorted, paged), the ones at risk, one deal with its
latest score and verdict, and one deal's history.

The token's tenant is the only tenant a request touches: it is what ``tenant_transaction`` hands to row-level
security, so a deal of another tenant is simply not found. Every read is limited to the owners ``owner_scope``
allows (a rep: their own deals; a manager: their team's), and "stale" is the tenant's staleness setting.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request

from dealpulse_common.auth import Principal
from dealpulse_common.deal import ForecastCategory, Stage
from dealpulse_common.events import OPEN_BUCKETS
from dealpulse_common.http_auth import CurrentPrincipal
from dealpulse_gateway import analytics_store, pipeline_cache, store
from dealpulse_gateway.analytics import per_currency, pipeline_figures
from dealpulse_gateway.analytics_store import DealFilter, ListSort, SortOrder
from dealpulse_gateway.analytics_views import PipelineFigures
from dealpulse_gateway.auth import OwnerScope, owner_scope, visible_to
from dealpulse_gateway.deal_reads import OUTSIDE_SCOPE, visible_deal
from dealpulse_gateway.money import single_currency_total
from dealpulse_gateway.query_params import (
    READ_PROBLEMS,
    invalid_query,
    listed,
    listed_texts,
    parse_categories,
    parse_choices,
)
from dealpulse_gateway.settings import GatewaySettings
from dealpulse_gateway.tenant_settings import stale_after
from dealpulse_gateway.views import (
    DealHistory,
    DealRow,
    DealsPage,
    DealView,
    HighRiskPage,
    OverridePoint,
    Pagination,
    RiskSummary,
    ScorePoint,
    VerdictPoint,
    age_seconds,
    call_in_force,
)

router = APIRouter(prefix="/v1/deals", tags=["deals"])

MAX_LIMIT = 200
MAX_LIST_LIMIT = 1_000
MAX_OFFSET = 100_000  # deeper pages are an export, not a dashboard
MAX_HISTORY = 5_000
OWNER_ID = Annotated[str, Query(min_length=1, max_length=200)]

PROBLEMS = READ_PROBLEMS
ONE_DEAL_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **PROBLEMS, 403: {"description": "The deal is outside the caller's scope (another rep's, another team's)"},
    404: {"description": "No such deal in the caller's tenant"}}


@router.get("", response_model=DealsPage, responses=PROBLEMS)
async def open_deals(
    request: Request,
    principal: CurrentPrincipal,
    risk_category: Annotated[list[str] | None, Query(
        description="low, medium, high, critical; repeat or separate with commas. Default: every category")] = None,
    owner: Annotated[list[str] | None, Query(
        description="Owner ids, within what the caller may see (a rep: themself; a manager: their team)")] = None,
    stage: Annotated[list[str] | None, Query(description="Canonical stages")] = None,
    forecast_category: Annotated[list[str] | None, Query(description="The rep's call")] = None,
    verdict: Annotated[list[str] | None, Query(
        description="The call in force (a manager's override, else the AI verdict): pipeline, best_case, commit")]
    = None,
    currency: Annotated[list[str] | None, Query(description="ISO 4217 codes")] = None,
    min_amount: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    max_amount: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    stale: Annotated[bool | None, Query(description="Only stale deals (true) or only fresh ones (false)")] = None,
    overridden: Annotated[bool | None, Query(description="Only deals with (true) or without (false) an override")]
    = None,
    sort_by: ListSort = "risk_score",
    order: SortOrder = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> DealsPage:
    """Every open deal with its latest score and verdict (override beside it), filtered, sorted and paged, with the
    pipeline figures of all that match."""
    if min_amount is not None and max_amount is not None and min_amount > max_amount:
        raise invalid_query("min_amount", "min_amount must not exceed max_amount")
    deal_filter = DealFilter(
        categories=parse_categories(risk_category, default=None),
        stages=parse_choices(stage, [s.value for s in Stage], "stage"),
        forecast_categories=parse_choices(forecast_category, [c.value for c in ForecastCategory],
                                          "forecast_category"),
        verdicts=parse_choices(verdict, [b.value for b in OPEN_BUCKETS], "verdict"),
        currencies=[code.upper() for code in listed(currency) or []] or None,
        min_amount=min_amount, max_amount=max_amount, stale=stale, overridden=overridden)
    page = await _open_page(request, principal, deal_filter, listed_texts(owner, "owner"),
                            _Order(sort_by, order, limit, offset))
    return DealsPage(deals=page.deals, pagination=page.pagination, summary=page.figures)


# Declared before /{deal_id} so that "high-risk" is never taken for a deal id.
@router.get("/high-risk", response_model=HighRiskPage, responses=PROBLEMS)
async def high_risk_deals(
    request: Request,
    principal: CurrentPrincipal,
    risk_category: Annotated[list[str] | None, Query(
        description="low, medium, high or critical; repeat the parameter or separate with commas. "
                    "Default: high and critical")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    sort_by: Literal["risk_score", "amount"] = "risk_score",
    order: SortOrder = "desc",
) -> HighRiskPage:
    """Open deals at risk (high and critical unless asked otherwise), riskiest first, with totals over all."""
    categories = parse_categories(risk_category) or []
    page = await _open_page(request, principal, DealFilter(categories=categories), None,
                            _Order(sort_by, order, limit, offset))
    figures = page.figures
    return HighRiskPage(
        deals=page.deals, pagination=page.pagination,
        summary=RiskSummary(
            total_at_risk_revenue=single_currency_total(figures.pipeline_value),
            at_risk_revenue=figures.pipeline_value, average_risk_score=figures.average_risk_score,
            deals_by_category={category: figures.risk_distribution[category].deals for category in categories},
        ),
    )


@router.get("/{deal_id}", response_model=DealView, responses=ONE_DEAL_PROBLEMS)
async def get_deal(
    request: Request,
    principal: CurrentPrincipal,
    deal_id: Annotated[str, Path(min_length=1, max_length=200)],
) -> DealView:
    """One deal: its snapshot, its latest score and verdict (a manager's override beside the AI's call) with their
    ages, and whether it is stale."""
    settings: GatewaySettings = request.app.state.settings
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        record = await visible_deal(conn, principal, deal_id)
        staleness = await stale_after(conn, principal.tenant_id, settings)
    now = datetime.now(UTC)
    last_scored = record.scored_at or record.created_at
    verdict = record.verdict
    return DealView(
        deal={**record.snapshot, "deal_id": deal_id},  # the stored snapshot keeps its id in a column
        deleted_at=record.deleted_at,
        score=_with_age(record.score, record.scored_at, now),
        verdict=_with_age(verdict, record.decided_at, now),
        effective_verdict=None if verdict is None else call_in_force(verdict["ai_verdict"], verdict.get("override")),
        stale=now - last_scored > staleness,
    )


@router.get("/{deal_id}/history", response_model=DealHistory, responses=ONE_DEAL_PROBLEMS)
async def deal_history(
    request: Request,
    principal: CurrentPrincipal,
    deal_id: Annotated[str, Path(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY, description="The newest this many of each kind")] = 1_000,
) -> DealHistory:
    """The deal's scores (each with why it changed and its model version), verdicts (with their reasons and the
    model of the score they rest on) and override events, oldest first."""
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        await visible_deal(conn, principal, deal_id)
        scores = await store.score_history(conn, principal.tenant_id, deal_id, limit)
        verdicts = await store.verdict_history(conn, principal.tenant_id, deal_id, limit)
        overrides = await store.override_history(conn, principal.tenant_id, deal_id, limit)
    points = ([ScorePoint(**dict(row)) for row in scores] + [VerdictPoint(**dict(row)) for row in verdicts]
              + [OverridePoint(**dict(row)) for row in overrides])
    # Same instant: the score first, then the verdict it led to, then an override beside it.
    rank = {"score": 0, "verdict": 1, "override": 2}
    points.sort(key=lambda point: (point.at, rank[point.kind]))
    return DealHistory(deal_id=deal_id, points=points,
                       truncated=any(len(rows) == limit for rows in (scores, verdicts, overrides)))


@dataclass(frozen=True)
class _Order:
    sort_by: ListSort
    order: SortOrder
    limit: int
    offset: int


@dataclass(frozen=True)
class _Page:
    deals: list[DealRow]
    pagination: Pagination
    figures: PipelineFigures  # of every deal that matches, not just the page


async def _open_page(request: Request, principal: Principal, deal_filter: DealFilter, asked_owners: list[str] | None,
                     order: _Order) -> _Page:
    """One page of the open deals ``deal_filter`` selects among those the principal may see (narrowed to
    ``asked_owners``), with the figures of all of them."""
    settings: GatewaySettings = request.app.state.settings
    now = datetime.now(UTC)
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        staleness = await stale_after(conn, principal.tenant_id, settings)
        stale_before = now - staleness
        deal_filter = replace(deal_filter, owners=_owners(await owner_scope(conn, principal), asked_owners),
                              stale_before=stale_before)
        rows = await analytics_store.open_deals_page(conn, principal.tenant_id, deal_filter, order.sort_by,
                                                     order.order, order.limit, order.offset)
        totals = await pipeline_cache.open_totals(conn, request.app.state.redis, principal.tenant_id, deal_filter,
                                                  now, staleness)
        reporting = await analytics_store.reporting(conn, principal.tenant_id)
    figures = pipeline_figures(per_currency(totals), reporting.settings)
    deals = [DealRow.of(row, now, stale_before) for row in rows]
    total = figures.open_deals
    return _Page(deals, Pagination(total_count=total, limit=order.limit, offset=order.offset,
                                   has_more=order.offset + len(deals) < total), figures)


def _owners(scope: OwnerScope, asked: list[str] | None) -> list[str] | None:
    """The owners asked for within those the principal may see (asking for more is 403)."""
    if not asked:
        return scope.listed()
    if not all(visible_to(scope, owner) for owner in asked):
        raise HTTPException(403, OUTSIDE_SCOPE)
    return asked


def _with_age(payload: dict[str, Any] | None, at: datetime | None, now: datetime) -> dict[str, Any] | None:
    if payload is None or at is None:
        return None
    return {**payload, "age_seconds": age_seconds(at, now)}

