"""Tenant admin API: the rule settings (``GET/PUT /v1/admin/settings``: verdict thresholds, commit gates, downgrade
depth, alert rules, staleness) and the audit log (``GET /v1/admin/audit``). Admins only.

Each settings section is versioned on its own and every edit of one is an ``audit_log`` row; the audit log lists
those with every other audited action (stage mappings, channels, reporting, overrides...), newest first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dealpulse_common.http_auth import CurrentAdmin
from dealpulse_common.tenant_rules import (
    ALERT_RULES_KEY,
    STALENESS_KEY,
    VERDICT_KEY,
    AlertRuleSettings,
    StalenessSettings,
    VerdictThresholds,
)
from dealpulse_gateway import store
from dealpulse_gateway.admin_routes import PROBLEMS as ADMIN_PROBLEMS
from dealpulse_gateway.query_params import invalid_query, listed_texts
from dealpulse_gateway.settings import GatewaySettings
from dealpulse_gateway.tenant_settings import Section, edit_sections, sections
from dealpulse_gateway.views import Pagination

router = APIRouter(prefix="/v1/admin", tags=["admin"])

MAX_AUDIT_LIMIT = 500
MAX_AUDIT_OFFSET = 100_000
MIN_YEAR, MAX_YEAR = 1900, 2199
EDIT_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **ADMIN_PROBLEMS, 422: {"description": "A value out of range, inconsistent thresholds, an unknown section or "
                                           "field, or no section at all (problem details)"}}
LIST_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **ADMIN_PROBLEMS, 422: {"description": "Invalid filters or paging (problem details)"}}
TEXTS = Annotated[list[str] | None, Query(description="Repeat or separate with commas; any of them matches")]


class SectionMeta(BaseModel):
    configured: bool = Field(description="False while the defaults are in force")
    version: int = Field(description="This section's version (each edit of it bumps it); 0 before any")
    updated_at: datetime | None = Field(None, description="When the tenant's settings were last edited")


class VerdictSection(SectionMeta):
    values: VerdictThresholds


class AlertRulesSection(SectionMeta):
    values: AlertRuleSettings


class StalenessSection(SectionMeta):
    values: StalenessSettings


class TenantSettingsView(BaseModel):
    verdict: VerdictSection
    alert_rules: AlertRulesSection
    staleness: StalenessSection


class TenantSettingsEdit(BaseModel):
    """The sections to replace (each whole: a field left out of a section given is its default)."""

    model_config = ConfigDict(extra="forbid")

    verdict: VerdictThresholds | None = None
    alert_rules: AlertRuleSettings | None = None
    staleness: StalenessSettings | None = None

    @model_validator(mode="after")
    def _some_section(self) -> TenantSettingsEdit:
        if self.verdict is None and self.alert_rules is None and self.staleness is None:
            raise ValueError("give at least one section: verdict, alert_rules or staleness")
        return self


@router.get("/settings", response_model=TenantSettingsView, responses=ADMIN_PROBLEMS)
async def get_settings(request: Request, principal: CurrentAdmin) -> TenantSettingsView:
    """The tenant's verdict thresholds and commit gates, alert rules and staleness, each with its version."""
    settings: GatewaySettings = request.app.state.settings
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        current = await sections(conn, principal.tenant_id, settings)
    return _view(current)


@router.put("/settings", response_model=TenantSettingsView, responses=EDIT_PROBLEMS)
async def put_settings(request: Request, principal: CurrentAdmin, body: TenantSettingsEdit) -> TenantSettingsView:
    """Replace the sections given, each versioned and audited on its own; verdict and alerts apply them within
    seconds, without a restart."""
    settings: GatewaySettings = request.app.state.settings
    edits = {key: value for key, value in ((VERDICT_KEY, body.verdict), (ALERT_RULES_KEY, body.alert_rules),
                                           (STALENESS_KEY, body.staleness)) if value is not None}
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        await edit_sections(conn, principal.tenant_id, principal.user_id, edits)
        current = await sections(conn, principal.tenant_id, settings)
    return _view(current)


def _view(current: dict[str, Section]) -> TenantSettingsView:
    def meta(key: str) -> dict[str, Any]:
        section = current[key]
        return {"values": section.values, "configured": section.configured, "version": section.stored.version,
                "updated_at": section.stored.updated_at}

    return TenantSettingsView(verdict=VerdictSection(**meta(VERDICT_KEY)),
                              alert_rules=AlertRulesSection(**meta(ALERT_RULES_KEY)),
                              staleness=StalenessSection(**meta(STALENESS_KEY)))


class AuditEntry(BaseModel):
    audit_id: int
    at: datetime
    actor: str = Field(description="Who did it (a user id, or slack:<id> for a Slack button)")
    action: str = Field(description="What was done, e.g. settings.update, verdict_override.set")
    subject: str | None = Field(description="What it was done to: a settings section, a deal id...")
    detail: dict[str, Any] = Field(description="Before and after, and what else the action records")


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    pagination: Pagination


@router.get("/audit", response_model=AuditPage, responses=LIST_PROBLEMS)
async def audit_log(
    request: Request,
    principal: CurrentAdmin,
    action: TEXTS = None,
    actor: TEXTS = None,
    subject: TEXTS = None,
    since: Annotated[datetime | None, Query(description="At or after this instant (ISO 8601 with offset)")] = None,
    until: Annotated[datetime | None, Query(description="Before this instant (ISO 8601 with offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_AUDIT_OFFSET)] = 0,
) -> AuditPage:
    """The tenant's audit log, newest first, filtered and paged."""
    for name, instant in (("since", since), ("until", until)):
        if instant is not None and instant.utcoffset() is None:
            raise invalid_query(name, f"{name} needs a UTC offset (2026-12-01T00:00:00Z)")
        if instant is not None and not MIN_YEAR <= instant.year <= MAX_YEAR:  # nor an instant off the calendar
            raise invalid_query(name, f"{name} must lie between {MIN_YEAR} and {MAX_YEAR}")
    if since is not None and until is not None and since >= until:
        raise invalid_query("until", "until must be after since")
    audit_filter = store.AuditFilter(actions=listed_texts(action, "action"), actors=listed_texts(actor, "actor"),
                                     subjects=listed_texts(subject, "subject"), since=since, until=until)
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        rows, total = await store.audit_page(conn, principal.tenant_id, audit_filter, limit, offset)
    entries = [AuditEntry(**{key: row[key] for key in AuditEntry.model_fields}) for row in rows]
    return AuditPage(entries=entries, pagination=Pagination(total_count=total, limit=limit, offset=offset,
                                                            has_more=offset + len(entries) < total))
