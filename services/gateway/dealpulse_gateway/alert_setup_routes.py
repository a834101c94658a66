"""Alert set-up a tenant admin and each user can do: where alerts go (Slack, SMTP) and what each user receives.

``PUT /v1/admin/alert-channels`` validates and stores the tenant's channels; secrets are never answered back nor
written to the audit log (a secret left out of an edit keeps the stored one). ``POST /v1/alerts/configure`` sets a
user's preferences (channels, minimum severity, quiet hours in their zone, digest time and size). ``POST
/v1/admin/alert-channels/test`` has the alerts service send a test message on every configured channel and reports
what happened to each. The alerts service reads all of it when it plans and sends.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from dealpulse_common.alert_settings import SETTINGS_KEY, ChannelSettings, UserPreferences
from dealpulse_common.auth import Principal
from dealpulse_common.http_auth import CurrentAdmin, CurrentPrincipal
from dealpulse_common.service import ServiceUnavailable
from dealpulse_gateway import alert_store, store
from dealpulse_gateway.settings import GatewaySettings

router = APIRouter(tags=["alerts"])
AUDIT_ACTION = "alert_channels.update"

PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or expired bearer token (problem details)"},
    403: {"description": "The caller may not do this (problem details)"},
    422: {"description": "Invalid settings (problem details)"},
    503: {"description": "Database or alerts service unavailable; retry after Retry-After seconds"},
}


class ChannelsView(BaseModel):
    channels: dict[str, Any] = Field(description="The settings with secrets replaced by whether each is set")
    version: int


class PreferencesView(BaseModel):
    user_id: str
    preferences: UserPreferences
    stored: bool = Field(description="False while the user has never set any (these are the defaults)")


@router.get("/v1/admin/alert-channels", response_model=ChannelsView, responses=PROBLEMS)
async def get_alert_channels(request: Request, principal: CurrentAdmin) -> ChannelsView:
    """The tenant's Slack and SMTP settings, secrets left out (admins only)."""
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        stored, version = await alert_store.channel_settings(conn, principal.tenant_id)
    return ChannelsView(channels=_parse(stored).public_view(), version=version)


@router.put("/v1/admin/alert-channels", response_model=ChannelsView, responses=PROBLEMS)
async def put_alert_channels(request: Request, principal: CurrentAdmin, body: ChannelSettings) -> ChannelsView:
    """Replace the tenant's channels; a secret left out keeps the stored one; audited without secrets."""
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        stored, _ = await alert_store.channel_settings(conn, principal.tenant_id)
        before = _parse(stored)
        after = body.keeping_secrets_of(before)
        version = await alert_store.write_channel_settings(conn, principal.tenant_id, after.model_dump(mode="json"))
        await store.write_audit(conn, principal.tenant_id, principal.user_id, AUDIT_ACTION, SETTINGS_KEY, {
            "before": before.public_view(), "after": after.public_view(), "version": version})
    return ChannelsView(channels=after.public_view(), version=version)


@router.post("/v1/admin/alert-channels/test", responses=PROBLEMS)
async def test_alert_channels(request: Request, principal: CurrentAdmin) -> Any:
    """Send a test message on every configured channel (DM and e-mail to the caller) and report each outcome."""
    settings: GatewaySettings = request.app.state.settings
    try:
        async with httpx.AsyncClient(base_url=settings.alerts_url, timeout=settings.test_alert_timeout_s) as client:
            answer = await client.post("/v1/test-alerts",
                                       headers={"authorization": request.headers.get("authorization", "")})
    except httpx.TransportError as exc:
        raise ServiceUnavailable("alerts service unreachable; retry later", settings.retry_after_s) from exc
    if answer.status_code != 200:
        raise HTTPException(answer.status_code, answer.json().get("detail", "test alert failed"))
    return answer.json()


@router.get("/v1/alerts/configure", response_model=PreferencesView, responses=PROBLEMS)
async def get_preferences(request: Request, principal: CurrentPrincipal,
                          user_id: Annotated[str | None, Query(max_length=200)] = None) -> PreferencesView:
    """The caller's alert preferences (an admin may name another user)."""
    target = _target(principal, user_id)
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        stored = await alert_store.preferences(conn, principal.tenant_id, target)
    return PreferencesView(user_id=target, preferences=UserPreferences.model_validate(stored or {}),
                           stored=stored is not None)


@router.post("/v1/alerts/configure", response_model=PreferencesView, responses=PROBLEMS)
async def configure(request: Request, principal: CurrentPrincipal, body: UserPreferences,
                    user_id: Annotated[str | None, Query(max_length=200)] = None) -> PreferencesView:
    """Set the caller's alert preferences (an admin may name another user); they apply to the next alert."""
    target = _target(principal, user_id)
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        await alert_store.write_preferences(conn, principal.tenant_id, target, body.model_dump(mode="json"))
    return PreferencesView(user_id=target, preferences=body, stored=True)


def _target(principal: Principal, user_id: str | None) -> str:
    if user_id is None or user_id == principal.user_id:
        return principal.user_id
    if principal.role != "admin":
        raise HTTPException(403, "only a tenant admin may set another user's preferences")
    return user_id


def _parse(stored: dict[str, Any] | None) -> ChannelSettings:
    return ChannelSettings.model_validate(stored) if stored else ChannelSettings()

