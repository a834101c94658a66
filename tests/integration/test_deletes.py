"""A CRM deletion: the deal leaves the pipeline and its score stream, and stays in ``deals`` for audit.

Needs the ``system`` fixture (tests/conftest.py): the embedded stack with the services running.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import RunningSystem, StreamClient, Tenant, deal_change, from_json, poll_until


async def _get(system: RunningSystem, tenant: Tenant, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=10) as client:
        return await client.get(path, headers={"Authorization": f"Bearer {system.token(tenant)}"})


def _score_for(deal_id: str) -> Any:
    return lambda m: m.get("kind") == "score" and m["event"]["dealid"] == deal_id


async def test_a_deleted_deal_leaves_the_pipeline_and_is_kept_for_audit(system: RunningSystem) -> None:
    tenant = await system.new_tenant("del")
    stream = await StreamClient.connect(system.ws_url(), system.token(tenant))
    try:
        # A stalled, repeatedly pushed deal: risky enough to be listed at risk.
        created = deal_change("D-del", "2026-11-20T10:00:00Z", name="Doomed", amount=250_000, stage="Prospecting",
                              created_at="2025-06-01T00:00:00Z", expected_close_date="2026-10-01",
                              last_activity_at="2026-05-01T00:00:00Z", lead_source="Partner", owner_id="rep-1")
        assert (await system.send_change(tenant, created)).status_code == 202
        scored = (await stream.wait_for(_score_for("D-del")))["event"]["data"]
        # Let the creation's own verdict (and alert, if critical) pass before deleting, as the e2e test does.
        wanted = {"verdict", "alert"} if scored["risk_category"] == "critical" else {"verdict"}
        seen: set[str] = set()
        while missing := wanted - seen:
            message = await stream.wait_for(lambda m, kinds=frozenset(missing): m.get("kind") in kinds)
            seen.add(message["kind"])
        await poll_until(lambda: system.admin_fetch(
            "SELECT 1 FROM alerts WHERE tenant_id = $1", tenant.tenant_id) if "alert" in wanted else _true())
        listing = (await _get(system, tenant, "/v1/deals/high-risk?risk_category=low,medium,high,critical")).json()
        assert [d["deal_id"] for d in listing["deals"]] == ["D-del"]
        alerts_before = await system.admin_fetch("SELECT count(*) AS n FROM alerts WHERE tenant_id = $1",
                                                 tenant.tenant_id)

        # The CRM deletes it: only the id and the time are needed.
        deletion = {"deal_id": "D-del", "modified_at": "2026-11-21T10:00:00Z", "deleted": True,
                    "event_id": "crm-del-1"}
        response = await system.send_change(tenant, deletion)
        assert response.status_code == 202, response.text

        # An open dashboard is told once, so it drops the row; the scorer publishes nothing for it, hence no
        # score, no verdict and no alert follow.
        later = await stream.collect(2.0)
        about_it = [m for m in later if m["event"]["dealid"] == "D-del"]
        assert [m["kind"] for m in about_it] == ["deleted"]
        assert about_it[0]["event"]["data"]["deleted"] is True
        assert about_it[0]["event"]["data"]["source_event_id"] == "crm-del-1"
    finally:
        await stream.close()

    rows = await system.admin_fetch("SELECT deleted_at, snapshot FROM deals WHERE tenant_id = $1 AND deal_id = $2",
                                    tenant.tenant_id, "D-del")
    assert rows[0]["deleted_at"] is not None and from_json(rows[0]["snapshot"])["name"] == "Doomed", "kept for audit"
    # The live read model forgets it (once the scorer took the tombstone); its score history stays.
    await poll_until(lambda: _gone_from_deal_risk(system, tenant, "D-del"))
    history = await system.admin_fetch("SELECT 1 FROM risk_scores WHERE tenant_id = $1 AND deal_id = 'D-del'",
                                       tenant.tenant_id)
    assert len(history) == 1

    listing = (await _get(system, tenant, "/v1/deals/high-risk?risk_category=low,medium,high,critical")).json()
    assert listing["deals"] == [] and listing["pagination"]["total_count"] == 0
    deal = await _get(system, tenant, "/v1/deals/D-del")
    assert deal.status_code == 200 and deal.json()["deleted_at"] is not None and deal.json()["score"] is None
    alerts_after = await system.admin_fetch("SELECT count(*) AS n FROM alerts WHERE tenant_id = $1", tenant.tenant_id)
    assert alerts_after[0]["n"] == alerts_before[0]["n"], "a deleted deal raised an alert"
    event = await system.admin_fetch(
        "SELECT outcome, changed_fields FROM deal_events WHERE tenant_id = $1 AND event_id = 'crm-del-1'",
        tenant.tenant_id)
    assert event[0]["outcome"] == "applied" and event[0]["changed_fields"] == ["deleted"]

    # A change the CRM made before the deletion, arriving late, is stale; so is one after it and a second delete.
    late = deal_change("D-del", "2026-11-20T18:00:00Z", amount=1_000, event_id="crm-late")
    assert (await system.send_change(tenant, late)).json()["status"] == "stale"
    after = deal_change("D-del", "2026-11-22T10:00:00Z", amount=2_000, event_id="crm-after")
    assert (await system.send_change(tenant, after)).json()["status"] == "stale"
    again = {"deal_id": "D-del", "modified_at": "2026-11-23T10:00:00Z", "deleted": True, "event_id": "crm-del-2"}
    assert (await system.send_change(tenant, again)).json()["status"] == "stale"
    rows = await system.admin_fetch("SELECT snapshot FROM deals WHERE tenant_id = $1 AND deal_id = 'D-del'",
                                    tenant.tenant_id)
    assert from_json(rows[0]["snapshot"])["amount"] == 250_000


async def test_a_deletion_older_than_the_snapshot_is_stale(system: RunningSystem) -> None:
    tenant = await system.new_tenant("delold")
    change = deal_change("D-1", "2026-11-20T10:00:00Z", amount=10_000, stage="Proposal")
    assert (await system.send_change(tenant, change)).status_code == 202
    old = {"deal_id": "D-1", "modified_at": "2026-11-19T10:00:00Z", "deleted": True}
    response = await system.send_change(tenant, old)
    assert response.status_code == 200 and response.json()["status"] == "stale"
    rows = await system.admin_fetch("SELECT deleted_at FROM deals WHERE tenant_id = $1", tenant.tenant_id)
    assert rows[0]["deleted_at"] is None


async def test_a_deletion_of_an_unseen_deal_refuses_its_late_creation(system: RunningSystem) -> None:
    tenant = await system.new_tenant("delnew")
    deletion = {"deal_id": "D-2", "modified_at": "2026-11-21T10:00:00Z", "deleted": True}
    assert (await system.send_change(tenant, deletion)).status_code == 202
    late = deal_change("D-2", "2026-11-20T10:00:00Z", amount=10_000, stage="Proposal")
    assert (await system.send_change(tenant, late)).json()["status"] == "stale"
    # Fields a delete payload repeats are ignored: the tombstone row holds no snapshot.
    mixed = {"deal_id": "D-3", "modified_at": "2026-11-21T10:00:00Z", "deleted": True, "amount": 5}
    assert (await system.send_change(tenant, mixed)).status_code == 202
    rows = await system.admin_fetch("SELECT snapshot, deleted_at FROM deals WHERE tenant_id = $1 AND deal_id = 'D-3'",
                                    tenant.tenant_id)
    assert from_json(rows[0]["snapshot"]) == {} and rows[0]["deleted_at"] is not None


async def test_a_restored_deal_comes_back_with_its_kept_snapshot(system: RunningSystem) -> None:
    tenant = await system.new_tenant("restore")
    created = deal_change("D-back", "2026-11-20T10:00:00Z", name="Lazarus", amount=80_000, stage="Negotiation",
                          owner_id="rep-1")
    assert (await system.send_change(tenant, created)).status_code == 202
    await poll_until(lambda: system.admin_fetch(
        "SELECT 1 FROM deal_risk WHERE tenant_id = $1 AND deal_id = 'D-back'", tenant.tenant_id))
    deletion = {"deal_id": "D-back", "modified_at": "2026-11-21T10:00:00Z", "deleted": True}
    assert (await system.send_change(tenant, deletion)).status_code == 202
    await poll_until(lambda: _gone_from_deal_risk(system, tenant, "D-back"))

    # A restore the CRM made before the deletion, or of a deal that is not deleted, restores nothing.
    early = {"deal_id": "D-back", "modified_at": "2026-11-20T18:00:00Z", "restored": True}
    assert (await system.send_change(tenant, early)).json()["status"] == "stale"
    assert (await system.send_change(tenant, {"deal_id": "D-never", "modified_at": "2026-11-21T10:00:00Z",
                                              "deleted": True})).status_code == 202
    unseen = {"deal_id": "D-never", "modified_at": "2026-11-22T10:00:00Z", "restored": True}
    assert (await system.send_change(tenant, unseen)).json()["status"] == "stale", "nothing kept to restore"

    stream = await StreamClient.connect(system.ws_url(), system.token(tenant))
    try:
        restore = {"deal_id": "D-back", "modified_at": "2026-11-22T10:00:00Z", "restored": True,
                   "event_id": "crm-restore-1"}
        response = await system.send_change(tenant, restore)
        assert response.status_code == 202 and response.json()["status"] == "accepted", response.text
        # It is scored again from the snapshot kept at its deletion, and shown again.
        scored = (await stream.wait_for(_score_for("D-back")))["event"]["data"]
        assert scored["deal"]["name"] == "Lazarus" and scored["deal"]["amount"] == 80_000
        assert scored["source_event_id"] == "crm-restore-1"
    finally:
        await stream.close()
    deal = (await _get(system, tenant, "/v1/deals/D-back")).json()
    assert deal["deleted_at"] is None and deal["score"]["source_event_id"] == "crm-restore-1"
    listing = (await _get(system, tenant, "/v1/deals/high-risk?risk_category=low,medium,high,critical")).json()
    assert [d["deal_id"] for d in listing["deals"]] == ["D-back"]
    # Changes after the restore apply again; a second restore has nothing to undo.
    later = deal_change("D-back", "2026-11-23T10:00:00Z", amount=95_000, event_id="crm-after-restore")
    assert (await system.send_change(tenant, later)).json()["status"] == "accepted"
    again = {"deal_id": "D-back", "modified_at": "2026-11-24T10:00:00Z", "restored": True}
    assert (await system.send_change(tenant, again)).json()["status"] == "stale"


async def _true() -> bool:
    return True


async def _gone_from_deal_risk(system: RunningSystem, tenant: Tenant, deal_id: str) -> bool:
    rows = await system.admin_fetch("SELECT 1 FROM deal_risk WHERE tenant_id = $1 AND deal_id = $2",
                                    tenant.tenant_id, deal_id)
    return not rows

