"""A tenant admin's connector settings (``GET/PUT /v1/admin/connectors/{crm}``): validated, audited, secrets sealed
and never answered, and used by ingest — a HubSpot webhook signed with the stored app secret is accepted, one
signed with any other secret (the webhook secret included) is refused; Pipedrive takes its stored credentials."""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.support import RunningSystem, Tenant, hubspot_headers, poll_until

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crm"
APP_SECRET = "hubspot-app-secret-" + uuid.uuid4().hex


def hubspot_events(deal_id: int, **properties: Any) -> bytes:
    """A HubSpot batch creating ``deal_id`` with ``properties`` (each a propertyChange event), in the portal 62515."""
    now_ms = int(time.time() * 1000)
    base = {"portalId": 62515, "objectId": deal_id, "occurredAt": now_ms, "attemptNumber": 0}
    events = [{**base, "eventId": 1, "subscriptionType": "deal.creation", "changeFlag": "CREATED"}]
    events += [{**base, "eventId": 2 + i, "subscriptionType": "deal.propertyChange", "propertyName": name,
                "propertyValue": value} for i, (name, value) in enumerate(properties.items())]
    return orjson.dumps(events)


async def _put(system: RunningSystem, tenant: Tenant, crm: str, body: dict[str, Any],
               role: str = "admin") -> httpx.Response:
    return await system.gateway("PUT", f"/v1/admin/connectors/{crm}", tenant, role, json=body)


async def _post_hubspot(system: RunningSystem, tenant: Tenant, body: bytes, secret: str) -> httpx.Response:
    path = f"/v1/webhooks/hubspot?tenant={tenant.tenant_id}"
    async with httpx.AsyncClient(base_url=system.url("ingest"), timeout=10) as client:
        return await client.post(path, content=body, headers={
            "Content-Type": "application/json", **hubspot_headers(secret, system.url("ingest") + path, body)})


async def test_hubspot_settings_are_stored_audited_and_their_secret_never_shown(system: RunningSystem) -> None:
    tenant = await system.new_tenant("conn")
    before = await system.gateway("GET", "/v1/admin/connectors/hubspot", tenant)
    assert before.status_code == 200 and before.json()["secrets"] == {"app_secret": False}
    settings = {"portal_id": 62515, "app_secret": APP_SECRET, "stage_map": {"1034567": "Commit - Verbal"},
                "field_map": {"hs_region": "region", "hs_priority": "custom.priority"}}
    put = await _put(system, tenant, "hubspot", settings)
    assert put.status_code == 200, put.text
    got = await system.gateway("GET", "/v1/admin/connectors/hubspot", tenant)
    for answer in (put, got):
        assert APP_SECRET not in answer.text
        assert answer.json()["secrets"] == {"app_secret": True}
        assert answer.json()["settings"] == {key: value for key, value in settings.items() if key != "app_secret"}
    [stored] = await system.admin_fetch("SELECT settings FROM tenant_settings WHERE tenant_id = $1",
                                        tenant.tenant_id)
    assert APP_SECRET not in stored["settings"]
    [sealed] = await system.admin_fetch("SELECT sealed FROM tenant_secrets WHERE tenant_id = $1 AND "
                                        "name = 'hubspot.app_secret'", tenant.tenant_id)
    assert APP_SECRET not in sealed["sealed"]
    [audit] = await system.admin_fetch("SELECT actor, action, detail FROM audit_log WHERE tenant_id = $1",
                                       tenant.tenant_id)
    assert (audit["actor"], audit["action"]) == ("test-admin", "connectors.hubspot.update")
    assert APP_SECRET not in audit["detail"] and '"secrets_set": ["app_secret"]' in audit["detail"]
    # A PUT without the secret keeps it; the settings are replaced.
    kept = await _put(system, tenant, "hubspot", {"portal_id": 62515})
    assert kept.json()["secrets"] == {"app_secret": True} and kept.json()["settings"] == {
        "portal_id": 62515, "stage_map": {}, "field_map": {}}


async def test_bad_connector_settings_are_422_problems_and_unknown_crms_404(system: RunningSystem) -> None:
    tenant = await system.new_tenant("conn")
    cases = [("hubspot", {"field_map": {"hs_region": "regoin"}}, "field_map.hs_region"),
             ("hubspot", {"app_secret": "short"}, "app_secret"),
             ("hubspot", {"portal_id": "not a number"}, "portal_id"),
             ("hubspot", {"surprise": 1}, "surprise"),
             ("salesforce", {"organization_id": "00D-not-an-org"}, "organization_id"),
             ("salesforce", {"token": "a-token-of-enough-length"}, "organization_id"),
             ("pipedrive", {"stage_map": {"3": ""}}, "stage_map.3")]
    for crm, body, field in cases:
        response = await _put(system, tenant, crm, body)
        assert response.status_code == 422, (crm, body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in response.json()["errors"]], response.text
        assert "short" not in response.text or field != "app_secret"  # the refused value is not echoed
    for method in ("GET", "PUT"):
        unknown = await system.gateway(method, "/v1/admin/connectors/zoho", tenant, json={})
        assert unknown.status_code == 404 and "zoho" in unknown.json()["detail"], unknown.text
    for role in ("rep", "manager"):
        assert (await _put(system, tenant, "hubspot", {}, role=role)).status_code == 403
    assert await system.admin_fetch("SELECT 1 FROM tenant_settings WHERE tenant_id = $1", tenant.tenant_id) == []
    assert await system.admin_fetch("SELECT 1 FROM audit_log WHERE tenant_id = $1", tenant.tenant_id) == []


async def test_ingest_checks_hubspot_signatures_with_the_stored_app_secret(system: RunningSystem) -> None:
    tenant = await system.new_tenant("conn")
    put = await _put(system, tenant, "hubspot", {"app_secret": APP_SECRET, "field_map": {"hs_region": "region"}})
    assert put.status_code == 200, put.text
    body = hubspot_events(9001, dealname="Connector deal", amount="42000", hs_region="EMEA")
    for wrong in (tenant.webhook_secret, "another-app-secret"):
        refused = await _post_hubspot(system, tenant, body, wrong)
        assert refused.status_code == 401 and refused.json()["detail"] == "signature does not match", refused.text
    accepted = await _post_hubspot(system, tenant, body, APP_SECRET)
    assert accepted.status_code == 200, accepted.text
    assert {r["status"] for r in accepted.json()["results"]} == {"accepted"}
    rows = await poll_until(lambda: system.admin_fetch(
        "SELECT snapshot->>'region' AS region FROM deals WHERE tenant_id = $1 AND deal_id = '9001'",
        tenant.tenant_id))
    assert rows[0]["region"] == "EMEA"  # the stored field map applied


async def test_ingest_takes_pipedrives_stored_credentials(system: RunningSystem) -> None:
    tenant = await system.new_tenant("conn")
    password = "pipedrive-password-" + uuid.uuid4().hex
    put = await _put(system, tenant, "pipedrive", {"username": "pipedrive-hook", "password": password})
    assert put.status_code == 200 and password not in put.text, put.text
    event = orjson.loads((FIXTURES / "pipedrive_deal_change_v2.json").read_bytes())
    event["meta"]["id"] = uuid.uuid4().hex
    path = f"/v1/webhooks/pipedrive?tenant={tenant.tenant_id}"

    async def post(user: str, secret: str) -> httpx.Response:
        auth = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
        async with httpx.AsyncClient(base_url=system.url("ingest"), timeout=10) as client:
            return await client.post(path, content=orjson.dumps(event),
                                     headers={"Content-Type": "application/json", "Authorization": auth})

    assert (await post(tenant.tenant_id, tenant.webhook_secret)).status_code == 401
    assert (await post("pipedrive-hook", "wrong-password")).status_code == 401
    accepted = await post("pipedrive-hook", password)
    assert accepted.status_code == 202, accepted.text
