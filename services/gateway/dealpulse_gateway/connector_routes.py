"""A tenant admin's CRM connector settings: ``GET/PUT /v1/admin/connectors/{crm}`` for salesforce, hubspot and
pipedrive (the shapes are ``dealpulse_common.connector_settings``).

Settings that are not secret go into ``tenant_settings`` under the CRM's key (ingest's connectors read them through
a cache of a few seconds); secrets are sealed into ``tenant_secrets`` and, once there, only ever reported as set or
not. A PUT replaces the settings and sets the secrets it carries (an omitted secret keeps its value); every PUT
leaves an ``audit_log`` row with the settings before and after and the names, never the values, of the secrets set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from dealpulse_common import tenant_secrets
from dealpulse_common.connector_settings import CONNECTORS
from dealpulse_common.http_auth import CurrentAdmin
from dealpulse_common.tenant_secrets import CONNECTOR_SECRETS, connector_secret_name
from dealpulse_gateway import store
from dealpulse_gateway.admin_routes import PROBLEMS

router = APIRouter(prefix="/v1/admin/connectors", tags=["admin"])
UNKNOWN_CRM: dict[int | str, dict[str, Any]] = {
    404: {"description": "Not a CRM DealPulse connects to (problem details)"}}
# The body's shape depends on the CRM in the path: each CRM's model, inlined (none nests another model).
BODY_SCHEMA = {"oneOf": [model.model_json_schema() for model in CONNECTORS.values()]}


class ConnectorView(BaseModel):
    crm: str
    settings: dict[str, Any] = Field(description="As stored; {} before the first PUT")
    secrets: dict[str, bool] = Field(description="Which of the CRM's secrets are set (their values are never shown)")
    version: int = Field(description="tenant_settings version (every settings edit bumps it); 0 before any")
    updated_at: datetime | None = None


@router.get("/{crm}", response_model=ConnectorView, responses={**PROBLEMS, **UNKNOWN_CRM})
async def get_connector(request: Request, principal: CurrentAdmin, crm: str) -> ConnectorView:
    """The CRM's settings and which of its secrets are set (admins only)."""
    _connector(crm)
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        stored = await store.tenant_setting(conn, principal.tenant_id, crm)
        return await _view(conn, principal.tenant_id, crm, stored)


@router.put("/{crm}", response_model=ConnectorView, openapi_extra={"requestBody": {
    "required": True, "content": {"application/json": {"schema": BODY_SCHEMA}}}},
    responses={**PROBLEMS, **UNKNOWN_CRM, 422: {"description": "Invalid settings or field map (problem details)"}})
async def put_connector(request: Request, principal: CurrentAdmin, crm: str,
                        body: Annotated[dict[str, Any], Body()]) -> ConnectorView:
    """Replace the CRM's settings and set the secrets given; audited (admins only)."""
    model = _connector(crm)
    try:
        connector = model.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    after, given = connector.stored_settings(), connector.given_secrets()
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        before = await store.tenant_setting(conn, principal.tenant_id, crm)
        written = await store.write_tenant_setting(conn, principal.tenant_id, crm, after)
        for key, value in given.items():
            await tenant_secrets.write_secret(conn, request.app.state.secret_box, principal.tenant_id,
                                              connector_secret_name(crm, key), value)
        await store.write_audit(conn, principal.tenant_id, principal.user_id, f"connectors.{crm}.update", crm, {
            "before": before.value, "after": after, "secrets_set": sorted(given), "version": written.version})
        return await _view(conn, principal.tenant_id, crm, written)


def _connector(crm: str) -> Any:
    model = CONNECTORS.get(crm)
    if model is None:
        raise HTTPException(404, f"unknown CRM {crm[:40]!r}: one of {', '.join(CONNECTORS)}")
    return model



async def _view(conn: Any, tenant_id: str, crm: str, stored: store.StoredSetting) -> ConnectorView:
    names = await tenant_secrets.secret_names(conn, tenant_id)
    return ConnectorView(crm=crm, settings=stored.value or {}, version=stored.version, updated_at=stored.updated_at,
                         secrets={key: connector_secret_name(crm, key) in names for key in CONNECTOR_SECRETS[crm]})
