"""Onboarding through the gateway's platform-admin API: a tenant is created with a webhook secret shown once and
stored sealed, a tenant admin cannot onboard, a rotation keeps the replaced secret working for its overlap and no
longer, and a disabled tenant's webhooks and tokens are refused with problem details (its open stream closed)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import httpx
import websockets

from dealpulse_common.auth import issue_token
from dealpulse_common.settings import ServiceSettings
from tests.support import RunningSystem, Tenant, deal_change, poll_until


def _new_id(prefix: str = "onb") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _create(system: RunningSystem, tenant_id: str) -> Tenant:
    response = await system.platform("POST", "", json={"tenant_id": tenant_id, "name": f"Onboarded {tenant_id}"})
    assert response.status_code == 201, response.text
    return Tenant(tenant_id, response.json()["webhook_secret"])


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["status"] == status and body["detail"]
    return body


async def test_a_created_tenant_shows_its_secret_once_and_stores_it_sealed(system: RunningSystem) -> None:
    tenant_id = _new_id()
    created = await system.platform("POST", "", json={"tenant_id": tenant_id, "name": "Acme Two"})
    assert created.status_code == 201, created.text
    secret = created.json()["webhook_secret"]
    assert len(secret) >= 40 and created.json()["disabled"] is False
    shown = await system.platform("GET", f"/{tenant_id}")
    assert shown.status_code == 200 and shown.json()["name"] == "Acme Two"
    listed = await system.platform("GET", "", params={"limit": 500})
    assert tenant_id in [t["tenant_id"] for t in listed.json()["tenants"]]
    for answer in (shown, listed):
        assert secret not in answer.text and "webhook_secret" not in answer.text
    [stored] = await system.admin_fetch("SELECT sealed FROM tenant_secrets WHERE tenant_id = $1 AND name = 'webhook'",
                                        tenant_id)
    assert secret not in stored["sealed"] and stored["sealed"].startswith("gAAAAA")  # a Fernet token
    assert await system.admin_fetch("SELECT 1 FROM information_schema.columns WHERE table_name = 'tenants' "
                                    "AND column_name LIKE 'webhook_secret%'") == []
    accepted = await system.send_change(Tenant(tenant_id, secret), deal_change("D-1", "2026-11-20T10:00:00Z"))
    assert accepted.status_code == 202, accepted.text
    [audit] = await system.admin_fetch("SELECT actor, action, detail FROM audit_log WHERE tenant_id = $1", tenant_id)
    assert (audit["actor"], audit["action"]) == ("platform:test-operator", "tenant.create")
    assert secret not in str(audit["detail"])
    _problem(await system.platform("POST", "", json={"tenant_id": tenant_id, "name": "again"}), 409)


async def test_only_a_platform_admin_onboards_and_bad_input_is_a_problem(system: RunningSystem) -> None:
    tenant = await system.new_tenant("onb")
    as_tenant_admin = await system.gateway("POST", "/v1/platform/tenants", tenant,
                                           json={"tenant_id": _new_id(), "name": "x"})
    _problem(as_tenant_admin, 403)
    _problem(await system.gateway("GET", f"/v1/platform/tenants/{tenant.tenant_id}", tenant), 403)
    _problem(await system.platform("GET", "", platform_admin=False), 403)
    async with httpx.AsyncClient(base_url=system.url("gateway")) as client:
        _problem(await client.get("/v1/platform/tenants"), 401)
    bad = _problem(await system.platform("POST", "", json={"tenant_id": "Not An Id", "name": "x"}), 422)
    assert "tenant_id" in str(bad["errors"])
    _problem(await system.platform("GET", f"/{_new_id('nobody')}"), 404)
    _problem(await system.platform("POST", f"/{_new_id('nobody')}/rotate-secret", json={}), 404)
    _problem(await system.platform("POST", f"/{tenant.tenant_id}/rotate-secret", json={"overlap_s": 10**9}), 422)


async def test_a_rotated_secret_overlaps_the_old_one_for_the_overlap_only(system: RunningSystem) -> None:
    old = await _create(system, _new_id())
    rotated = await system.platform("POST", f"/{old.tenant_id}/rotate-secret", json={"overlap_s": 4})
    assert rotated.status_code == 200, rotated.text
    new = Tenant(old.tenant_id, rotated.json()["webhook_secret"])
    assert new.webhook_secret != old.webhook_secret
    until = datetime.fromisoformat(rotated.json()["previous_secret_valid_until"])
    assert (await system.send_change(old, deal_change("D-1", "2026-11-20T10:00:00Z"))).status_code == 202
    assert (await system.send_change(new, deal_change("D-1", "2026-11-20T11:00:00Z"))).status_code == 202

    async def old_refused() -> httpx.Response | None:
        response = await system.send_change(old, deal_change("D-1", "2026-11-20T12:00:00Z"))
        return response if response.status_code == 401 else None

    refused = await poll_until(old_refused, timeout=20, interval=0.5)
    assert datetime.now(until.tzinfo) >= until, "the old secret was refused before its overlap ended"
    _problem(refused, 401)
    assert (await system.send_change(new, deal_change("D-1", "2026-11-20T13:00:00Z"))).status_code == 202
    shown = (await system.platform("GET", f"/{old.tenant_id}")).json()
    assert shown["previous_secret_valid_until"] is None  # the overlap is over


async def test_a_rotation_without_an_overlap_asked_for_takes_the_setting(system: RunningSystem) -> None:
    tenant = await _create(system, _new_id())
    rotated = await system.platform("POST", f"/{tenant.tenant_id}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    until = datetime.fromisoformat(rotated.json()["previous_secret_valid_until"])
    overlap = (until - datetime.fromisoformat(rotated.json()["created_at"])).total_seconds()
    assert 86_400 - 60 < overlap < 86_400 + 60  # GATEWAY_WEBHOOK_SECRET_OVERLAP_S's default: a day
    assert (await system.send_change(tenant, deal_change("D-1", "2026-11-20T10:00:00Z"))).status_code == 202


async def test_a_disabled_tenants_webhooks_and_tokens_are_refused(system: RunningSystem) -> None:
    tenant = await _create(system, _new_id())
    token = issue_token(ServiceSettings().jwt_secret, tenant.tenant_id, "admin", "onb-admin", 600)
    accepted = await system.send_change(tenant, deal_change("D-1", "2026-11-20T10:00:00Z"))
    assert accepted.status_code == 202, accepted.text  # ingest now holds the tenant's keys in its cache
    async with httpx.AsyncClient(base_url=system.url("gateway")) as client, \
            websockets.connect(system.ws_url(f"/v1/stream?token={token}")) as live:
        before = await client.get("/v1/deals", headers={"Authorization": f"Bearer {token}"})
        assert before.status_code == 200, before.text
        disabled = await system.platform("POST", f"/{tenant.tenant_id}/disable")
        assert disabled.status_code == 200 and disabled.json()["disabled"] is True
        refused = await client.get("/v1/deals", headers={"Authorization": f"Bearer {token}"})
        # The open stream is closed at its next read (GATEWAY_STREAM_BLOCK_MS, 5 s, apart).
        await asyncio.wait_for(live.wait_closed(), timeout=15)
    assert (live.close_code, live.close_reason) == (4401, "this tenant is disabled")
    assert "disabled" in str(_problem(refused, 401)["detail"])

    async def webhook_refused() -> httpx.Response | None:  # within ingest's cache TTL (INGEST_SECRET_CACHE_TTL_S)
        response = await system.send_change(tenant, deal_change("D-2", "2026-11-20T10:00:00Z"))
        return response if response.status_code >= 400 else None

    assert "disabled" in str(_problem(await poll_until(webhook_refused, timeout=15, interval=0.5), 403)["detail"])
    _problem(await system.send_change(tenant, deal_change("D-3", "2026-11-20T10:00:00Z")), 403)
    # A caller without the tenant's secret learns nothing about its status.
    forged = await system.send_change(Tenant(tenant.tenant_id, "not-the-secret"),
                                      deal_change("D-1", "2026-11-20T10:00:00Z"))
    _problem(forged, 401)
    assert await system.admin_fetch("SELECT 1 FROM deals WHERE tenant_id = $1 AND deal_id = 'D-3'",
                                    tenant.tenant_id) == []
    actions = [r["action"] for r in await system.admin_fetch(
        "SELECT action FROM audit_log WHERE tenant_id = $1 ORDER BY audit_id", tenant.tenant_id)]
    assert actions == ["tenant.create", "tenant.disable"]
