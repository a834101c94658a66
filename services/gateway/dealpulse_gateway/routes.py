"""REST reads of a tenant's deals: one deal with its latest score and verdict, and the open deals at risk.

The token's tenant is the only tenant a request touches: it is what ``tenant_transaction`` hands to row-level
security, so a deal of another tenant is simply not found.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError

from dealpulse_common.auth import Principal
from dealpulse_common.events import RiskCategory
from dealpulse_common.http_auth import CurrentPrincipal
from dealpulse_gateway import store
from dealpulse_gateway.auth import visible_to
from dealpulse_gateway.settings import GatewaySettings
from dealpulse_gateway.views import DealView, HighRiskDeal, HighRiskPage, Pagination, RiskSummary

router = APIRouter(prefix="/v1/deals", tags=["deals"])

DEFAULT_CATEGORIES = (RiskCategory.HIGH, RiskCategory.CRITICAL)
MAX_LIMIT = 200
MAX_OFFSET = 100_000  # deeper pages are an export, not a dashboard

PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or expired bearer token (problem details)"},
    422: {"description": "Invalid parameters (problem details)"},
    503: {"description": "Database unavailable; retry after Retry-After seconds (problem details)"},
}


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
    sort_by: store.SortColumn = "risk_score",
    order: store.SortOrder = "desc",
) -> HighRiskPage:
    """Open deals at risk (high and critical unless asked otherwise), riskiest first, with totals over all."""
    settings: GatewaySettings = request.app.state.settings
    categories = parse_categories(risk_category)
    owner_id = _owner_scope(principal)
    async with store.tenant_connection(request.app.state.pool, principal.tenant_id, settings.retry_after_s) as conn:
        rows = await store.high_risk_deals(conn, principal.tenant_id, categories, owner_id, sort_by, order,
                                           limit, offset)
        totals = await store.high_risk_totals(conn, principal.tenant_id, categories, owner_id)
    now = datetime.now(UTC)
    deals = [HighRiskDeal(**dict(row), age_seconds=_age_seconds(row["scored_at"], now)) for row in rows]
    total_count = sum(t.deals for t in totals.values())
    return HighRiskPage(
        deals=deals,
        pagination=Pagination(total_count=total_count, limit=limit, offset=offset,
                              has_more=offset + len(deals) < total_count),
        summary=RiskSummary(
            total_at_risk_revenue=sum(t.amount for t in totals.values()),
            average_risk_score=(round(sum(t.risk_score_sum for t in totals.values()) / total_count, 1)
                                if total_count else None),
            deals_by_category={category: totals[category].deals if category in totals else 0
                               for category in categories},
        ),
    )


@router.get("/{deal_id}", response_model=DealView,
            responses={**PROBLEMS, 403: {"description": "A rep asked for another rep's deal"},
                       404: {"description": "No such deal in the caller's tenant"}})
async def get_deal(
    request: Request,
    principal: CurrentPrincipal,
    deal_id: Annotated[str, Path(min_length=1, max_length=200)],
) -> DealView:
    """One deal: its snapshot, its latest score and verdict with their ages, and whether it is stale."""
    if not _storable(deal_id):
        raise HTTPException(404, "deal not found")  # PostgreSQL text cannot hold it, so no deal has this id
    settings: GatewaySettings = request.app.state.settings
    async with store.tenant_connection(request.app.state.pool, principal.tenant_id, settings.retry_after_s) as conn:
        record = await store.deal_with_latest(conn, principal.tenant_id, deal_id)
    if record is None:
        raise HTTPException(404, f"deal {deal_id!r} not found")
    if not visible_to(principal, record.snapshot.get("owner_id")):
        raise HTTPException(403, "a rep may only read deals they own")
    now = datetime.now(UTC)
    last_scored = record.scored_at or record.created_at
    return DealView(
        deal={**record.snapshot, "deal_id": deal_id},  # the stored snapshot keeps its id in a column
        deleted_at=record.deleted_at,
        score=_with_age(record.score, record.scored_at, now),
        verdict=_with_age(record.verdict, record.decided_at, now),
        stale=now - last_scored > timedelta(days=settings.stale_after_days),
    )


def parse_categories(values: list[str] | None) -> list[str]:
    if not values:
        return [category.value for category in DEFAULT_CATEGORIES]
    requested = {part.strip().lower() for value in values for part in value.split(",") if part.strip()}
    unknown = sorted(requested - {category.value for category in RiskCategory})
    if unknown or not requested:
        raise RequestValidationError([{
            "loc": ("query", "risk_category"), "type": "enum",
            "msg": f"unknown risk category {', '.join(unknown) or '(empty)'}; use low, medium, high or critical",
        }])
    return [category.value for category in RiskCategory if category.value in requested]  # severity order


def _storable(text: str) -> bool:
    """Whether PostgreSQL could store ``text`` (no NUL, valid UTF-8); anything else would fail the query."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _owner_scope(principal: Principal) -> str | None:
    """The owner a query must be limited to: the rep themself, or nobody for managers and admins."""
    return None if principal.sees_whole_tenant() else principal.user_id


def _age_seconds(at: datetime, now: datetime) -> float:
    return round(max(0.0, (now - at).total_seconds()), 1)


def _with_age(payload: dict[str, Any] | None, at: datetime | None, now: datetime) -> dict[str, Any] | None:
    if payload is None or at is None:
        return None
    return {**payload, "age_seconds": _age_seconds(at, now)}
