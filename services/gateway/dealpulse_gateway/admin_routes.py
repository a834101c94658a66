"""Tenant admin settings: the stage mapping ingest's normaliser applies before its defaults.

The gateway is the one writer of ``tenant_settings``; ingest reads the mapping through a cache of a few seconds,
so an edit applies to changes received from then on (stored deals keep the stage they were given). Every edit
bumps the settings version and leaves an ``audit_log`` row with the mapping before and after.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from dealpulse_common.deal import ForecastCategory, Stage
from dealpulse_common.http_auth import CurrentAdmin
from dealpulse_common.stage_mapping import SETTINGS_KEY, StageMappingSettings
from dealpulse_gateway.routes import tenant_connection

router = APIRouter(prefix="/v1/admin", tags=["admin"])

AUDIT_ACTION = "stage_mappings.update"
MAX_UNMAPPED_LISTED = 100

PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or expired bearer token (problem details)"},
    403: {"description": "The caller is not a tenant admin (problem details)"},
    503: {"description": "Database unavailable; retry after Retry-After seconds (problem details)"},
}

READ_SETTINGS = f"""
SELECT settings->'{SETTINGS_KEY}' AS mapping, version, updated_at FROM tenant_settings WHERE tenant_id = $1
"""

# Replaces only the "stages" key; other settings (verdict thresholds...) stay. The version counts every edit.
WRITE_SETTINGS = f"""
INSERT INTO tenant_settings AS s (tenant_id, settings) VALUES ($1, jsonb_build_object('{SETTINGS_KEY}', $2::jsonb))
ON CONFLICT (tenant_id) DO UPDATE SET
    settings = s.settings || jsonb_build_object('{SETTINGS_KEY}', $2::jsonb),
    version = s.version + 1,
    updated_at = now()
RETURNING version, updated_at
"""

# Raw stage names that matched nothing, so an admin sees what to map. Deleted deals are no longer pipeline.
UNMAPPED_STAGES = """
SELECT snapshot->>'crm_stage' AS crm_stage, count(*) AS deals FROM deals
WHERE tenant_id = $1 AND deleted_at IS NULL AND (snapshot->>'stage_unmapped')::boolean
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $2
"""

WRITE_AUDIT = """
INSERT INTO audit_log (tenant_id, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5::jsonb)
"""


class UnmappedStage(BaseModel):
    crm_stage: str
    deals: int


class StageMappingsView(StageMappingSettings):
    version: int = Field(description="tenant_settings version (every settings edit bumps it); 0 before any")
    updated_at: datetime | None = None
    canonical_stages: list[Stage] = Field(default_factory=lambda: list(Stage))
    canonical_forecast_categories: list[ForecastCategory] = Field(default_factory=lambda: list(ForecastCategory))
    unmapped_stages: list[UnmappedStage] = Field(
        default_factory=list, description="Raw stage names of current deals that matched no mapping nor default")


@router.get("/stage-mappings", response_model=StageMappingsView, responses=PROBLEMS)
async def get_stage_mappings(request: Request, principal: CurrentAdmin) -> StageMappingsView:
    """The tenant's stage and forecast-category mapping, and the raw stage names still unmapped (admins only)."""
    async with tenant_connection(request, principal) as conn:
        row = await conn.fetchrow(READ_SETTINGS, principal.tenant_id)
        unmapped = await conn.fetch(UNMAPPED_STAGES, principal.tenant_id, MAX_UNMAPPED_LISTED)
    current = StageMappingSettings.model_validate(row["mapping"]) if row and row["mapping"] else StageMappingSettings()
    return StageMappingsView(
        **current.model_dump(), version=row["version"] if row else 0, updated_at=row["updated_at"] if row else None,
        unmapped_stages=[UnmappedStage(crm_stage=r["crm_stage"], deals=r["deals"]) for r in unmapped],
    )


@router.put("/stage-mappings", response_model=StageMappingsView,
            responses={**PROBLEMS, 422: {"description": "Unknown canonical target or conflicting names"}})
async def put_stage_mappings(request: Request, principal: CurrentAdmin,
                             body: StageMappingSettings) -> StageMappingsView:
    """Replace the tenant's mapping (raw CRM name -> canonical stage / forecast category); audited (admins only)."""
    after = body.model_dump(mode="json")
    async with tenant_connection(request, principal) as conn:
        before = await conn.fetchrow(READ_SETTINGS, principal.tenant_id)
        written = await conn.fetchrow(WRITE_SETTINGS, principal.tenant_id, after)
        await conn.execute(WRITE_AUDIT, principal.tenant_id, principal.user_id, AUDIT_ACTION, SETTINGS_KEY, {
            "before": before["mapping"] if before else None, "after": after, "version": written["version"],
        })
        unmapped = await conn.fetch(UNMAPPED_STAGES, principal.tenant_id, MAX_UNMAPPED_LISTED)
    return StageMappingsView(
        **body.model_dump(), version=written["version"], updated_at=written["updated_at"],
        unmapped_stages=[UnmappedStage(crm_stage=r["crm_stage"], deals=r["deals"]) for r in unmapped],
    )
