"""A tenant admin maps the CRM's own stage names through the gateway; ingest's normaliser applies them.

Needs the ``system`` fixture (tests/conftest.py): the embedded stack with the services running.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from tests.support import RunningSystem, Tenant, deal_change, from_json, poll_until

PATH = "/v1/admin/stage-mappings"


async def _call(system: RunningSystem, tenant: Tenant, method: str, role: str = "admin",
                body: dict[str, Any] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=10) as client:
        return await client.request(method, PATH, json=body, headers={
            "Authorization": f"Bearer {system.token(tenant, role, f'{role}-1')}"})


async def _snapshot(system: RunningSystem, tenant: Tenant, deal_id: str) -> dict[str, Any]:
    rows = await system.admin_fetch("SELECT snapshot FROM deals WHERE tenant_id = $1 AND deal_id = $2",
                                    tenant.tenant_id, deal_id)
    snapshot: dict[str, Any] = from_json(rows[0]["snapshot"])
    return snapshot


async def test_an_admin_mapping_decides_the_stage_of_the_next_change(system: RunningSystem) -> None:
    tenant = await system.new_tenant("stmap")
    empty = await _call(system, tenant, "GET")
    assert empty.status_code == 200, empty.text
    assert empty.json()["stages"] == {} and empty.json()["version"] == 0

    # A stage name nobody knows is accepted, kept raw and flagged, not rejected.
    unknown = deal_change("D-1", "2026-11-20T10:00:00Z", amount=20_000, stage="Legal Review", owner_id="rep-1")
    response = await system.send_change(tenant, unknown)
    assert response.status_code == 202, response.text
    snapshot = await _snapshot(system, tenant, "D-1")
    assert snapshot["crm_stage"] == "Legal Review" and snapshot["stage_unmapped"] is True
    assert "stage" not in snapshot
    listed = (await _call(system, tenant, "GET")).json()
    assert listed["unmapped_stages"] == [{"crm_stage": "Legal Review", "deals": 1}]

    mapping = {"stages": {"Legal Review": "negotiation", "Unterschrieben": "closed_won"},
               "forecast_categories": {"Sure thing": "commit"}}
    put = await _call(system, tenant, "PUT", body=mapping)
    assert put.status_code == 200, put.text
    assert put.json()["stages"] == mapping["stages"] and put.json()["version"] == 1

    # Ingest's cache of a tenant's mapping lives a few seconds; it must pick the edit up within that time.
    attempts = itertools.count(1)

    async def mapped() -> dict[str, Any] | None:
        n = next(attempts)  # each attempt is a newer change, so none is stale
        change = deal_change("D-1", f"2026-11-21T10:00:{n:02d}Z", stage="legal review", forecast_category="Sure Thing")
        assert (await system.send_change(tenant, change)).status_code == 202
        snap = await _snapshot(system, tenant, "D-1")
        return snap if snap.get("stage") == "negotiation" else None

    snapshot = await poll_until(mapped, timeout=15, interval=0.5)
    assert snapshot["stage_unmapped"] is False and snapshot["forecast_category"] == "commit"
    assert snapshot["crm_stage"] == "legal review"

    # A mapped closing stage decides closed/won like a default name does.
    won = deal_change("D-1", "2026-11-22T10:00:00Z", stage="Unterschrieben")
    assert (await system.send_change(tenant, won)).status_code == 202
    snapshot = await _snapshot(system, tenant, "D-1")
    assert snapshot["stage"] == "closed_won" and snapshot["is_closed"] is True and snapshot["is_won"] is True

    audit = await system.admin_fetch(
        "SELECT actor, action, subject, detail FROM audit_log WHERE tenant_id = $1", tenant.tenant_id)
    assert len(audit) == 1
    assert audit[0]["actor"] == "admin-1" and audit[0]["action"] == "stage_mappings.update"
    detail = from_json(audit[0]["detail"])
    assert detail["before"] is None and detail["after"]["stages"] == mapping["stages"]
    settings = await system.admin_fetch("SELECT settings, version FROM tenant_settings WHERE tenant_id = $1",
                                        tenant.tenant_id)
    assert from_json(settings[0]["settings"])["stages"]["stages"] == mapping["stages"] and settings[0]["version"] == 1


async def test_only_admins_read_or_change_mappings(system: RunningSystem) -> None:
    tenant = await system.new_tenant("stmaprb")
    for role in ("rep", "manager"):
        assert (await _call(system, tenant, "GET", role)).status_code == 403
        put = await _call(system, tenant, "PUT", role, {"stages": {"X": "commit"}})
        assert put.status_code == 403
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=10) as client:
        assert (await client.get(PATH)).status_code == 401
    assert await system.admin_fetch("SELECT 1 FROM audit_log WHERE tenant_id = $1", tenant.tenant_id) == []
    assert await system.admin_fetch("SELECT 1 FROM tenant_settings WHERE tenant_id = $1", tenant.tenant_id) == []


async def test_targets_must_be_canonical_and_an_edit_bumps_the_version(system: RunningSystem) -> None:
    tenant = await system.new_tenant("stmapval")
    bad = await _call(system, tenant, "PUT", body={"stages": {"Legal": "lawyering"}})
    assert bad.status_code == 422, bad.text
    bad = await _call(system, tenant, "PUT", body={"forecast_categories": {"Maybe": "perhaps"}})
    assert bad.status_code == 422
    clash = await _call(system, tenant, "PUT", body={"stages": {"Legal": "negotiation", " legal ": "commit"}})
    assert clash.status_code == 422
    unstorable = await _call(system, tenant, "PUT", body={"forecast_categories": {"\u0000L": "omitted"}})
    assert unstorable.status_code == 422, "a NUL PostgreSQL cannot store is refused, not a 500"
    assert await system.admin_fetch("SELECT 1 FROM audit_log WHERE tenant_id = $1", tenant.tenant_id) == []

    first = await _call(system, tenant, "PUT", body={"stages": {"Legal": "negotiation"}})
    second = await _call(system, tenant, "PUT", body={"stages": {}})
    assert (first.json()["version"], second.json()["version"]) == (1, 2)
    current = (await _call(system, tenant, "GET")).json()
    assert current["stages"] == {} and current["version"] == 2
    audit = await system.admin_fetch("SELECT detail FROM audit_log WHERE tenant_id = $1 ORDER BY audit_id",
                                     tenant.tenant_id)
    assert [from_json(a["detail"])["version"] for a in audit] == [1, 2]
    assert from_json(audit[1]["detail"])["before"]["stages"] == {"Legal": "negotiation"}

