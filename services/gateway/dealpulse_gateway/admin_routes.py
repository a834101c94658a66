"""Tenant admin settings: the stage mapping ingest's normaliser applies before its defaults.

The gateway is the one writer of ``tenant_settings``; ingest reads the mapping through a cache of a few seconds,
so an edit applies to changes received from then on (stored deals keep the stage they were given). Every edit
bumps the mapping's own version and leaves an ``audit_log`` row with the mapping before and after.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from dealpulse_common.deal import ForecastCategory, Stage
from dealpulse_common.http_auth import CurrentAdmin
from dealpulse_common.stage_mapping import SETTINGS_KEY, StageMappingSettings
from dealpulse_gateway import store

router = APIRouter(prefix="/v1/admin", tags=["admin"])

AUDIT_ACTION = "stage_mappings.update"
MAX_UNMAPPED_LISTED = 100

PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or expired bearer token (problem details)"},
    403: {"description": "The caller is not a tenant admin (problem details)"},
    503: {"description": "Database unavailable; retry after Retry-After seconds (problem details)"},
}


class UnmappedStage(BaseModel):
    crm_stage: str
    deals: int


class StageMappingsView(StageMappingSettings):
    version: int = Field(description="This section's version (each edit of it bumps it); 0 before any")
    updated_at: datetime | None = None
    canonical_stages: list[Stage] = Field(default_factory=lambda: list(Stage))
    canonical_forecast_categories: list[ForecastCategory] = Field(default_factory=lambda: list(ForecastCategory))
    unmapped_stages: list[UnmappedStage] = Field(
        default_factory=list, description="Raw stage names of current deals that matched no mapping nor default")


@router.get("/stage-mappings", response_model=StageMappingsView, responses=PROBLEMS)
async def get_stage_mappings(request: Request, principal: CurrentAdmin) -> StageMappingsView:
    """The tenant's stage and forecast-category mapping, and the raw stage names still unmapped (admins only)."""
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        stored = await store.tenant_setting(conn, principal.tenant_id, SETTINGS_KEY)
        unmapped = await store.unmapped_stages(conn, principal.tenant_id, MAX_UNMAPPED_LISTED)
    current = StageMappingSettings.model_validate(stored.value) if stored.value else StageMappingSettings()
    return _view(current, stored, unmapped)


@router.put("/stage-mappings", response_model=StageMappingsView,
            responses={**PROBLEMS, 422: {"description": "Unknown canonical target or conflicting names"}})
async def put_stage_mappings(request: Request, principal: CurrentAdmin,
                             body: StageMappingSettings) -> StageMappingsView:
    """Replace the tenant's mapping (raw CRM name -> canonical stage / forecast category); audited (admins only)."""
    after = body.model_dump(mode="json")
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        before = await store.tenant_setting(conn, principal.tenant_id, SETTINGS_KEY)
        written = await store.write_tenant_setting(conn, principal.tenant_id, SETTINGS_KEY, after)
        await store.write_audit(conn, principal.tenant_id, principal.user_id, AUDIT_ACTION, SETTINGS_KEY, {
            "before": before.value, "after": after, "version": written.version,
        })
        unmapped = await store.unmapped_stages(conn, principal.tenant_id, MAX_UNMAPPED_LISTED)
    return _view(body, written, unmapped)


def _view(mapping: StageMappingSettings, stored: store.StoredSetting,
          unmapped: list[tuple[str, int]]) -> StageMappingsView:
    return StageMappingsView(
        **mapping.model_dump(), version=stored.version, updated_at=stored.updated_at,
        unmapped_stages=[UnmappedStage(crm_stage=crm_stage, deals=deals) for crm_stage, deals in unmapped],
    )
