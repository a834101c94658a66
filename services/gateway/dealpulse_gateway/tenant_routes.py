"""Onboarding, for platform admins: create, list, show, rotate the webhook secret of, and disable tenants.

A platform admin is a verified caller whose token carries ``platform_admin: true`` (``CurrentPlatformAdmin``): the
identity provider grants it to the operators who onboard tenants, ``dealpulse token --platform-admin`` in
development. A tenant admin's token does not carry it and gets 403. ``dealpulse tenant ...`` is the client of these
routes (``dealpulse_cli/tenants.py``).

A webhook secret is answered once, by ``create`` and ``rotate-secret``; it is stored sealed
(``dealpulse_common.tenant_secrets``) and no other answer, log line or audit row carries it. Every change leaves a
row in the tenant's own ``audit_log``.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dealpulse_common import tenant_secrets
from dealpulse_common.auth import Principal
from dealpulse_common.deal import DealText
from dealpulse_common.events import utcnow
from dealpulse_common.http_auth import CurrentPlatformAdmin
from dealpulse_common.tenancy import TenantId
from dealpulse_common.tenant_secrets import TenantRecord
from dealpulse_gateway import store
from dealpulse_gateway.settings import GatewaySettings

router = APIRouter(prefix="/v1/platform/tenants", tags=["platform"])
SECRET_BYTES = 32
MAX_PAGE = 500

PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or expired bearer token (problem details)"},
    403: {"description": "The caller's token has no platform_admin claim (problem details)"},
    422: {"description": "Invalid tenant id, name, page or overlap (problem details)"},
    503: {"description": "Database unavailable; retry after Retry-After seconds (problem details)"},
}
UNKNOWN = {404: {"description": "No such tenant (problem details)"}}


class NewTenant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: TenantId = Field(description="Lowercase id, used in webhook URLs and tokens; cannot change")
    name: Annotated[DealText, StringConstraints(min_length=1, max_length=200)]


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_s: int | None = Field(None, ge=0, description="How long the replaced secret stays valid (default: "
                                                          "GATEWAY_WEBHOOK_SECRET_OVERLAP_S)")


class TenantView(BaseModel):
    tenant_id: str
    name: str
    created_at: datetime
    disabled: bool
    disabled_at: datetime | None
    previous_secret_valid_until: datetime | None = Field(
        None, description="While a rotation's overlap lasts: when the replaced webhook secret stops working")

    @classmethod
    def of(cls, record: TenantRecord) -> TenantView:
        return cls(tenant_id=record.tenant_id, name=record.name, created_at=record.created_at,
                   disabled=record.disabled_at is not None, disabled_at=record.disabled_at,
                   previous_secret_valid_until=record.previous_secret_valid_until)


class TenantWithSecret(TenantView):
    webhook_secret: str = Field(description="Shown only in this answer: configure the CRM with it now")


class TenantPage(BaseModel):
    tenants: list[TenantView]
    next_after: str | None = Field(description="Pass as `after` for the next page; null on the last")


def _settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


def _actor(principal: Principal) -> str:
    return f"platform:{principal.user_id}"


@router.post("", status_code=201, response_model=TenantWithSecret,
             responses={**PROBLEMS, 409: {"description": "The tenant id is taken (problem details)"}})
async def create_tenant(request: Request, principal: CurrentPlatformAdmin, body: NewTenant) -> TenantWithSecret:
    """A new tenant and its webhook secret, which this answer shows once."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    async with store.tenant_transaction_of(request, body.tenant_id) as conn:
        created = await tenant_secrets.create_tenant(conn, request.app.state.secret_box, body.tenant_id, body.name,
                                                     secret)
        if created is None:
            raise HTTPException(409, f"tenant {body.tenant_id} exists")
        await store.write_audit(conn, body.tenant_id, _actor(principal), "tenant.create", body.tenant_id,
                                {"name": body.name})
    return TenantWithSecret(**TenantView.of(created).model_dump(), webhook_secret=secret)


@router.get("", response_model=TenantPage, responses=PROBLEMS)
async def list_tenants(request: Request, principal: CurrentPlatformAdmin,
                       after: Annotated[TenantId | None, Query(description="Last id of the previous page")] = None,
                       limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> TenantPage:
    """Every tenant, by id (never a secret)."""
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        found = await tenant_secrets.platform_tenants(conn, after=after, limit=limit + 1)
    page = found[:limit]
    return TenantPage(tenants=[TenantView.of(t) for t in page],
                      next_after=page[-1].tenant_id if len(found) > limit else None)


@router.get("/{tenant_id}", response_model=TenantView, responses={**PROBLEMS, **UNKNOWN})
async def show_tenant(request: Request, principal: CurrentPlatformAdmin, tenant_id: TenantId) -> TenantView:
    """One tenant: status, and until when a replaced secret still works (never a secret)."""
    async with store.tenant_transaction_of(request, tenant_id) as conn:
        return TenantView.of(_known(await tenant_secrets.tenant(conn, tenant_id), tenant_id))


@router.post("/{tenant_id}/rotate-secret", response_model=TenantWithSecret,
             responses={**PROBLEMS, **UNKNOWN})
async def rotate_secret(request: Request, principal: CurrentPlatformAdmin, tenant_id: TenantId,
                        body: Rotation | None = None) -> TenantWithSecret:
    """A new webhook secret, shown once; the replaced one keeps working for the overlap."""
    settings = _settings(request)
    overlap_s = settings.webhook_secret_overlap_s if body is None or body.overlap_s is None else body.overlap_s
    if overlap_s > settings.webhook_secret_max_overlap_s:
        raise HTTPException(422, f"overlap_s may be at most {settings.webhook_secret_max_overlap_s}")
    secret = secrets.token_urlsafe(SECRET_BYTES)
    old_valid_until = utcnow() + timedelta(seconds=overlap_s)
    async with store.tenant_transaction_of(request, tenant_id) as conn:
        _known(await tenant_secrets.tenant(conn, tenant_id), tenant_id)
        await tenant_secrets.rotate_webhook_secret(conn, request.app.state.secret_box, tenant_id, secret,
                                                   old_valid_until)
        await store.write_audit(conn, tenant_id, _actor(principal), "tenant.rotate_secret", tenant_id,
                                {"previous_valid_until": old_valid_until.isoformat()})
        rotated = _known(await tenant_secrets.tenant(conn, tenant_id), tenant_id)
    return TenantWithSecret(**TenantView.of(rotated).model_dump(), webhook_secret=secret)


@router.post("/{tenant_id}/disable", response_model=TenantView, responses={**PROBLEMS, **UNKNOWN})
async def disable_tenant(request: Request, principal: CurrentPlatformAdmin, tenant_id: TenantId) -> TenantView:
    """Refuse the tenant's webhooks and tokens from now on (within the services' caches' few seconds); its data
    stays."""
    async with store.tenant_transaction_of(request, tenant_id) as conn:
        disabled = _known(await tenant_secrets.disable_tenant(conn, tenant_id), tenant_id)
        await store.write_audit(conn, tenant_id, _actor(principal), "tenant.disable", tenant_id, {})
    request.app.state.tenant_status.forget(tenant_id)
    return TenantView.of(disabled)


def _known(record: TenantRecord | None, tenant_id: str) -> TenantRecord:
    if record is None:
        raise HTTPException(404, f"no tenant {tenant_id}")
    return record
