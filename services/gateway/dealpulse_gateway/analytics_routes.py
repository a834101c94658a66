"""The analytics API: ``GET /v1/pipeline/metrics`` (the open pipeline, deals closed in a period, 7/30/90-day
trends), ``GET /v1/reps`` (the same per rep), and the tenant's reporting currency (``/v1/admin/reporting``).

Every read is limited to the owners ``owner_scope`` allows, narrowed by ``owner`` and ``team``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import Field

from dealpulse_common.auth import Principal
from dealpulse_common.http_auth import CurrentAdmin, CurrentPrincipal
from dealpulse_common.teams import team_members
from dealpulse_gateway import analytics_store, pipeline_cache, store
from dealpulse_gateway.analytics import (
    SNAPSHOT_TOLERANCE_DAYS,
    TREND_DAYS,
    ClosedCounts,
    Period,
    closed_figures,
    parse_period,
    per_currency,
    pipeline_figures,
)
from dealpulse_gateway.analytics_report import rep_rows, snapshot_day_for, trend_points, trend_windows
from dealpulse_gateway.analytics_store import DealFilter
from dealpulse_gateway.analytics_views import PipelineMetrics, ReportingView, RepsPage, ScopeView
from dealpulse_gateway.auth import owner_scope
from dealpulse_gateway.money import SETTINGS_KEY as REPORTING_KEY
from dealpulse_gateway.money import ReportingSettings
from dealpulse_gateway.query_params import READ_PROBLEMS as PROBLEMS
from dealpulse_gateway.query_params import invalid_query
from dealpulse_gateway.settings import GatewaySettings
from dealpulse_gateway.tenant_settings import stale_after

router = APIRouter(tags=["analytics"])

AUDIT_ACTION = "reporting.update"
PERIOD = Annotated[str | None, Query(description="Nd (trailing N days, 1-730), mtd, qtd or ytd. Default 90d")]
PERSON = Annotated[str | None, Query(min_length=1, max_length=200)]
SCOPE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **PROBLEMS, 403: {"description": "owner or team outside what the caller may see (a rep: only themself; a "
                                     "manager: their team)"}}


@router.get("/v1/pipeline/metrics", response_model=PipelineMetrics, responses=SCOPE_PROBLEMS)
async def pipeline_metrics(request: Request, principal: CurrentPrincipal, period: PERIOD = None,
                           owner: PERSON = None, team: PERSON = None) -> PipelineMetrics:
    """Pipeline value, risk-adjusted value, optimism gap, revenue at risk, CRM- vs AI-weighted forecast, commit
    admission and risk distribution of the open pipeline; win rate and cycle time of the deals closed in the
    period; and their 7, 30 and 90-day trends. Each figure says how many deals it rests on; money is per currency
    and in the tenant's reporting currency."""
    settings: GatewaySettings = request.app.state.settings
    now = datetime.now(UTC)
    chosen = _period(period, now)
    today = now.date()
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        owners = await _scope(conn, principal, owner, team)
        reporting = await analytics_store.reporting(conn, principal.tenant_id)
        totals = await pipeline_cache.open_totals(conn, request.app.state.redis, principal.tenant_id,
                                                  DealFilter(owners=owners), now,
                                                  await stale_after(conn, principal.tenant_id, settings))
        windows = trend_windows(chosen)
        counts = (await analytics_store.closed_counts(conn, principal.tenant_id, owners, windows)).get(
            "", [ClosedCounts() for _ in windows])
        days = await analytics_store.snapshot_days(
            conn, principal.tenant_id, today - timedelta(days=max(TREND_DAYS) + SNAPSHOT_TOLERANCE_DAYS))
        compared = {n: snapshot_day_for(days, today - timedelta(days=n)) for n in TREND_DAYS}
        snapshots = await analytics_store.snapshot_totals(conn, principal.tenant_id,
                                                          [d for d in compared.values() if d], owners)
    figures = pipeline_figures(per_currency(totals), reporting.settings)
    return PipelineMetrics(
        tenant_id=principal.tenant_id, as_of=now, period=chosen.view(),
        scope=ScopeView(owner=owner, team=team, owners=owners), reporting=_reporting_view(reporting),
        pipeline=figures, closed=closed_figures(chosen, counts[0]),
        trends=trend_points(figures, chosen, counts, compared, snapshots, reporting.settings),
    )


@router.get("/v1/reps", response_model=RepsPage, responses=SCOPE_PROBLEMS)
async def reps(request: Request, principal: CurrentPrincipal, period: PERIOD = None,
               team: PERSON = None) -> RepsPage:
    """Per rep: open pipeline, risk-adjusted value, win rate and cycle time over the period, high-risk deals,
    average risk score of their open deals, and the share of their Commit calls admitted (a rep sees only their
    own row)."""
    settings: GatewaySettings = request.app.state.settings
    now = datetime.now(UTC)
    chosen = _period(period, now)
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        owners = await _scope(conn, principal, None, team)
        reporting = await analytics_store.reporting(conn, principal.tenant_id)
        totals = await pipeline_cache.open_totals(conn, request.app.state.redis, principal.tenant_id,
                                                  DealFilter(owners=owners), now,
                                                  await stale_after(conn, principal.tenant_id, settings), by_owner=True)
        closed = await analytics_store.closed_counts(conn, principal.tenant_id, owners, [chosen], by_owner=True)
        people = sorted({owner for owner, _ in totals} | set(closed))
        names = await analytics_store.people_names(conn, principal.tenant_id, people)
    return RepsPage(tenant_id=principal.tenant_id, as_of=now, period=chosen.view(),
                    reporting=_reporting_view(reporting),
                    reps=rep_rows(totals, closed, names, chosen, reporting.settings))


class ReportingSettingsView(ReportingSettings):
    configured: bool = Field(description="False while the defaults are in use")
    version: int = Field(description="This section's version (each edit of it bumps it); 0 before any")
    updated_at: datetime | None = None


@router.get("/v1/admin/reporting", response_model=ReportingSettingsView, tags=["admin"], responses=PROBLEMS)
async def get_reporting(request: Request, principal: CurrentAdmin) -> ReportingSettingsView:
    """The reporting currency, the conversion rates and the forecast weights the analytics use (admins only)."""
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        stored = await store.tenant_setting(conn, principal.tenant_id, REPORTING_KEY)
    current = ReportingSettings.model_validate(stored.value) if stored.value else ReportingSettings()
    return ReportingSettingsView(**current.model_dump(), configured=stored.value is not None, version=stored.version,
                                 updated_at=stored.updated_at)


@router.put("/v1/admin/reporting", response_model=ReportingSettingsView, tags=["admin"], responses=PROBLEMS)
async def put_reporting(request: Request, principal: CurrentAdmin, body: ReportingSettings) -> ReportingSettingsView:
    """Replace the reporting currency, rates (units of the reporting currency per unit of each other currency) and
    forecast weights; audited (admins only)."""
    after = body.model_dump(mode="json")
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        before = await store.tenant_setting(conn, principal.tenant_id, REPORTING_KEY)
        written = await store.write_tenant_setting(conn, principal.tenant_id, REPORTING_KEY, after)
        await store.write_audit(conn, principal.tenant_id, principal.user_id, AUDIT_ACTION, REPORTING_KEY,
                                {"before": before.value, "after": after, "version": written.version})
    return ReportingSettingsView(**body.model_dump(), configured=True, version=written.version,
                                 updated_at=written.updated_at)


def _period(text: str | None, now: datetime) -> Period:
    try:
        return parse_period(text, now)
    except ValueError as exc:
        raise invalid_query("period", str(exc)) from exc


async def _scope(conn: asyncpg.Connection, principal: Principal, owner: str | None,
                 team: str | None) -> list[str] | None:
    """The owners the figures cover: those the principal may see, narrowed to ``team`` and ``owner``. Asking for
    an owner or a team the principal cannot see (nobody in common) is 403."""
    scope = await owner_scope(conn, principal)
    owners = scope.listed()
    if team is not None:
        members = await team_members(conn, principal.tenant_id, team)
        owners = members if owners is None else [o for o in owners if o in members]
    if owner is not None:
        owners = [owner] if owners is None or owner in owners else []
    if owners == [] and scope.owners is not None:
        raise HTTPException(403, "owner or team outside what you may see (a rep: themself; a manager: their team)")
    return owners


def _reporting_view(reporting: analytics_store.Reporting) -> ReportingView:
    return ReportingView(currency=reporting.settings.currency, rates=reporting.settings.rates,
                         rates_as_of=reporting.settings.rates_as_of, configured=reporting.configured)
