"""``GET /v1/admin/audit``: the tenant's audit log for its admins, newest first, filtered by action, actor, subject
and time, paged like ``/v1/deals``, and in the gateway's OpenAPI."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import RunningSystem, Tenant

PATH = "/v1/admin/audit"


async def _audited_edits(system: RunningSystem, tenant: Tenant) -> None:
    """Four audited edits, oldest first: verdict and alert rules by adm-1, staleness and stage mappings by adm-2."""
    edits = [("adm-1", "/v1/admin/settings", {"verdict": {"commit_health_score": 22}}),
             ("adm-1", "/v1/admin/settings", {"alert_rules": {"risk_jump_points": 15}}),
             ("adm-2", "/v1/admin/settings", {"staleness": {"stale_after_days": 7}}),
             ("adm-2", "/v1/admin/stage-mappings", {"stages": {"Signed": "closed_won"}})]
    for actor, path, body in edits:
        assert (await system.gateway("PUT", path, tenant, "admin", actor, json=body)).status_code == 200


async def _audit(system: RunningSystem, tenant: Tenant, **params: Any) -> dict[str, Any]:
    response = await system.gateway("GET", PATH, tenant, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _subjects(page: dict[str, Any]) -> list[str]:
    return [entry["subject"] for entry in page["entries"]]


async def test_admins_list_the_audit_log_filtered_and_paged(system: RunningSystem) -> None:
    tenant, other = await system.new_tenant("aud"), await system.new_tenant("audoth")
    await _audited_edits(system, tenant)

    everything = await _audit(system, tenant)
    assert _subjects(everything) == ["stages", "staleness", "alert_rules", "verdict"], "newest first"
    assert everything["pagination"] == {"total_count": 4, "limit": 100, "offset": 0, "has_more": False}
    newest = everything["entries"][0]
    assert (newest["actor"], newest["action"]) == ("adm-2", "stage_mappings.update")
    assert newest["detail"]["after"]["stages"] == {"Signed": "closed_won"}

    assert _subjects(await _audit(system, tenant, action="settings.update")) == ["staleness", "alert_rules",
                                                                                 "verdict"]
    assert _subjects(await _audit(system, tenant, actor="adm-1")) == ["alert_rules", "verdict"]
    assert _subjects(await _audit(system, tenant, subject="verdict,staleness")) == ["staleness", "verdict"]
    assert _subjects(await _audit(system, tenant, actor="adm-2", action=["settings.update"])) == ["staleness"]
    second_newest = everything["entries"][1]["at"]
    assert _subjects(await _audit(system, tenant, since=second_newest)) == ["stages", "staleness"]
    assert _subjects(await _audit(system, tenant, until=second_newest)) == ["alert_rules", "verdict"]

    first = await _audit(system, tenant, limit=3)
    assert _subjects(first) == ["stages", "staleness", "alert_rules"]
    assert first["pagination"] == {"total_count": 4, "limit": 3, "offset": 0, "has_more": True}
    rest = await _audit(system, tenant, limit=3, offset=3)
    assert _subjects(rest) == ["verdict"] and rest["pagination"]["has_more"] is False
    beyond = await _audit(system, tenant, offset=10)
    assert beyond["entries"] == [] and beyond["pagination"]["total_count"] == 4
    assert (await _audit(system, other))["pagination"]["total_count"] == 0, "another tenant's log is not there"


@pytest.mark.parametrize("params", [
    {"since": "2026-12-01T00:00:00"},  # no offset: which instant is it?
    {"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"},
    {"until": "yesterday"},
    {"limit": "0"},
    {"limit": "501"},
    {"offset": "-1"},
    {"actor": "adm\x00-1"},  # no stored text holds a NUL
    {"since": "0001-01-01T00:00:00+14:00"},  # before the calendar PostgreSQL and Python share
], ids=["naive-time", "until-before-since", "not-a-time", "no-rows", "too-many", "negative-offset", "nul",
        "year-one"])
async def test_bad_filters_are_refused(system: RunningSystem, params: dict[str, str]) -> None:
    tenant = await system.new_tenant("audbad")
    response = await system.gateway("GET", PATH, tenant, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_only_admins_read_the_audit_log_and_it_is_documented(system: RunningSystem) -> None:
    tenant = await system.new_tenant("audrole")
    await _audited_edits(system, tenant)
    for role in ("rep", "manager"):
        refused = await system.gateway("GET", PATH, tenant, role, f"{role}-1")
        assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{system.url('gateway')}{PATH}")).status_code == 401
        paths = (await client.get(f"{system.url('gateway')}/openapi.json")).json()["paths"]
    assert {"get"} <= set(paths[PATH]) and {"get", "put"} <= set(paths["/v1/admin/settings"])
    assert {"action", "actor", "subject", "since", "until", "limit", "offset"} == {
        p["name"] for p in paths[PATH]["get"]["parameters"]}
