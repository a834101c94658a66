"""Verdict overrides end to end (gateway → deal.verdict.override.v1 → verdict → the deal's verdict everywhere), their
RBAC and audit, and a deal's history of scores, verdicts and overrides in time order.

Needs the ``system`` fixture (tests/conftest.py): the embedded stack with the services running.
"""

from __future__ import annotations

from typing import Any

from tests import events
from tests.support import RunningSystem, StreamClient, Tenant, add_team, deal_change, from_json, poll_until, seed_deal

REASON = "The CFO confirmed budget on today's call"


def _verdict_of(deal_id: str, provider: str | None = None) -> Any:
    return lambda m: (m.get("kind") == "verdict" and m["event"]["dealid"] == deal_id
                      and (provider is None or m["event"]["data"]["provider"] == provider))


async def _verdicts(system: RunningSystem, tenant: Tenant, deal_id: str, n: int) -> list[dict[str, Any]] | None:
    rows = await system.admin_fetch("SELECT payload FROM verdicts WHERE tenant_id = $1 AND deal_id = $2 "
                                    "ORDER BY decided_at", tenant.tenant_id, deal_id)
    payloads = [from_json(row["payload"]) for row in rows]
    return payloads if len(payloads) >= n else None


async def test_an_override_travels_to_verdict_shows_everywhere_and_is_audited(system: RunningSystem) -> None:
    tenant = await system.new_tenant("ovr")
    await add_team(system, tenant, "mgr-1", "rep-1")
    stream = await StreamClient.connect(system.ws_url(), system.token(tenant, "manager", "mgr-1"))
    try:
        created = deal_change("D-ovr", "2026-11-20T10:00:00Z", name="Globex renewal", amount=90_000,
                              stage="Proposal", created_at="2026-08-01T00:00:00Z", expected_close_date="2026-12-15",
                              last_activity_at="2026-11-18T00:00:00Z", owner_id="rep-1")
        assert (await system.send_change(tenant, created)).status_code == 202
        first = (await stream.wait_for(_verdict_of("D-ovr")))["event"]["data"]
        pushed = deal_change("D-ovr", "2026-11-21T10:00:00Z", expected_close_date="2027-02-15")
        assert (await system.send_change(tenant, pushed)).status_code == 202
        await poll_until(lambda: _verdicts(system, tenant, "D-ovr", 2))

        # A manager overrides the AI's call.
        response = await system.gateway("POST", "/v1/deals/D-ovr/verdict-override", tenant, "manager", "mgr-1",
                                        json={"forecast_category": "commit", "reason": REASON})
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted["override"]["forecast_category"] == "commit" and accepted["previous"] is None
        assert accepted["ai_verdict"] == first["ai_verdict"] and accepted["status"] == "accepted"

        # verdict applies it: the live feed shows the deal's verdict carrying it, beside the AI's call.
        frame = (await stream.wait_for(_verdict_of("D-ovr", "override")))["event"]["data"]
        assert frame["override"] == {"forecast_category": "commit", "reason": REASON, "overridden_by": "mgr-1",
                                     "overridden_at": frame["override"]["overridden_at"],
                                     "ai_verdict": first["ai_verdict"]}
        assert frame["ai_verdict"] == first["ai_verdict"] and frame["changed"] is True
        deal = (await system.gateway("GET", "/v1/deals/D-ovr", tenant)).json()
        assert deal["verdict"]["override"]["reason"] == REASON and deal["effective_verdict"] == "commit"
        row = (await system.gateway("GET", "/v1/deals", tenant)).json()["deals"][0]
        assert row["verdict"]["effective_verdict"] == "commit" and row["verdict"]["ai_verdict"] == first["ai_verdict"]

        # A later change is judged afresh, and the override stays beside the new verdict.
        touched = deal_change("D-ovr", "2026-11-22T10:00:00Z", amount=95_000)
        assert (await system.send_change(tenant, touched)).status_code == 202
        third = (await poll_until(lambda: _verdicts(system, tenant, "D-ovr", 3)))[2]
        assert third["override"]["forecast_category"] == "commit"

        # An admin removes it.
        removed = await system.gateway("DELETE", "/v1/deals/D-ovr/verdict-override", tenant,
                                       params={"reason": "Signature slipped"})
        assert removed.status_code == 202, removed.text
        assert removed.json()["override"] is None and removed.json()["previous"]["forecast_category"] == "commit"
        cleared = await stream.wait_for(lambda m: _verdict_of("D-ovr", "override")(m)
                                        and m["event"]["data"]["override"] is None)
        assert cleared["event"]["data"]["ai_verdict"] == third["ai_verdict"]
    finally:
        await stream.close()

    audit = await system.admin_fetch("SELECT actor, action, subject, detail FROM audit_log WHERE tenant_id = $1 "
                                     "ORDER BY audit_id", tenant.tenant_id)
    assert [(r["actor"], r["action"], r["subject"]) for r in audit] == [
        ("mgr-1", "verdict_override.set", "D-ovr"), ("test-admin", "verdict_override.clear", "D-ovr")]
    set_detail, clear_detail = (from_json(r["detail"]) for r in audit)
    assert set_detail["before"] is None and set_detail["after"]["forecast_category"] == "commit"
    assert set_detail["reason"] == REASON and set_detail["ai_verdict"] == first["ai_verdict"]
    assert clear_detail["before"]["forecast_category"] == "commit" and clear_detail["after"] is None
    recorded = await poll_until(lambda: _overrides(system, tenant, 2))
    assert [(r["action"], r["verdict"], r["overridden_by"], r["previous_verdict"]) for r in recorded] == [
        ("set", "commit", "mgr-1", None), ("clear", None, "test-admin", "commit")]
    assert recorded[0]["command_id"] == set_detail["command_id"]

    history = (await system.gateway("GET", "/v1/deals/D-ovr/history", tenant)).json()
    assert [p["kind"] for p in history["points"]] == [
        "score", "verdict", "score", "verdict", "override", "score", "verdict", "override"]
    assert [p["at"] for p in history["points"]] == sorted(p["at"] for p in history["points"])
    scores = [p for p in history["points"] if p["kind"] == "score"]
    models = await system.admin_fetch("SELECT model_version FROM risk_scores WHERE tenant_id = $1 "
                                      "ORDER BY scored_at", tenant.tenant_id)
    assert [p["model_version"] for p in scores] == [r["model_version"] for r in models]
    assert scores[0]["since_previous"] is None
    assert scores[1]["since_previous"]["previous_risk_score"] == scores[0]["risk_score"]
    assert scores[2]["since_previous"]["previous_risk_score"] == scores[1]["risk_score"]
    verdicts = [p for p in history["points"] if p["kind"] == "verdict"]
    assert all(v["reasons"] and v["model_version"] == scores[0]["model_version"] for v in verdicts)
    assert [v["override"] and v["override"]["forecast_category"] for v in verdicts] == [None, None, "commit"]
    overrides = [p for p in history["points"] if p["kind"] == "override"]
    assert [(o["action"], o["forecast_category"], o["reason"], o["overridden_by"], o["previous"])
            for o in overrides] == [("set", "commit", REASON, "mgr-1", None),
                                    ("clear", None, "Signature slipped", "test-admin", "commit")]
    assert history["truncated"] is False
    limited = (await system.gateway("GET", "/v1/deals/D-ovr/history", tenant, params={"limit": 1})).json()
    assert [p["kind"] for p in limited["points"]] == ["score", "verdict", "override"] and limited["truncated"]


async def test_only_managers_and_admins_override_and_only_what_can_be(system: RunningSystem) -> None:
    tenant, other = await system.new_tenant("ovrbac"), await system.new_tenant("ovroth")
    await add_team(system, tenant, "mgr-1", "rep-1")
    await seed_deal(system, tenant, "D-open", owner="rep-1", verdict=events.verdict_data(owner_id="rep-1"))
    await seed_deal(system, tenant, "D-unjudged", owner="rep-1")
    await seed_deal(system, tenant, "D-closed", owner="rep-1", is_closed=True, verdict=events.verdict_data(
        ai_forecast="closed_won", ai_verdict="closed_won", forecast_basis="outcome", predictive_eligible=False))
    await seed_deal(system, tenant, "D-gone", owner="rep-1", deleted=True, verdict=events.verdict_data())
    body = {"forecast_category": "best_case", "reason": REASON}

    async def call(method: str, deal_id: str, role: str = "manager", user: str = "mgr-1", on: Tenant = tenant,
                   **kwargs: Any) -> int:
        response = await system.gateway(method, f"/v1/deals/{deal_id}/verdict-override", on, role, user, **kwargs)
        assert response.headers["content-type"] == "application/problem+json" or response.status_code == 202
        return response.status_code

    assert await call("POST", "D-open", "rep", "rep-1", json=body) == 403, "a rep cannot, even on their own deal"
    assert await call("DELETE", "D-open", "rep", "rep-1") == 403
    for bad in ({"forecast_category": "best_case"}, {"forecast_category": "best_case", "reason": "   "},
                {"forecast_category": "closed_won", "reason": REASON}, {"forecast_category": "maybe", "reason": "x"},
                {**body, "extra": 1}, {"forecast_category": "commit", "reason": "x" * 1001}):
        assert await call("POST", "D-open", json=bad) == 422, bad
    assert await call("DELETE", "D-open", params={"reason": ""}) == 422
    assert await call("DELETE", "D-open") == 409, "no override in force"
    for deal_id in ("D-unjudged", "D-closed", "D-gone"):
        assert await call("POST", deal_id, json=body) == 409, deal_id
    assert await call("POST", "D-nowhere", json=body) == 404
    assert await call("POST", "D-open", on=other, json=body) == 404, "another tenant's deal is not found"

    assert await call("POST", "D-open", json=body) == 202
    recorded = await poll_until(lambda: _overrides(system, tenant, 1))
    assert [(r["deal_id"], r["verdict"], r["reason"]) for r in recorded] == [("D-open", "best_case", REASON)]
    audit = await system.admin_fetch("SELECT actor, action FROM audit_log WHERE tenant_id = $1", tenant.tenant_id)
    assert [(r["actor"], r["action"]) for r in audit] == [("mgr-1", "verdict_override.set")], \
        "refused attempts leave no audit row"
    deal = await poll_until(lambda: _overridden(system, tenant, "D-open"))
    assert deal["verdict"]["override"]["forecast_category"] == "best_case"
    assert (await system.gateway("GET", "/v1/deals/D-open", tenant, "rep", "rep-1")).json()[
        "effective_verdict"] == "best_case", "the rep sees the manager's call beside the AI's"


async def _overrides(system: RunningSystem, tenant: Tenant, n: int) -> list[Any] | None:
    rows = await system.admin_fetch("SELECT * FROM verdict_overrides WHERE tenant_id = $1 ORDER BY override_id",
                                    tenant.tenant_id)
    return rows if len(rows) >= n else None


async def _overridden(system: RunningSystem, tenant: Tenant, deal_id: str) -> dict[str, Any] | None:
    deal: dict[str, Any] = (await system.gateway("GET", f"/v1/deals/{deal_id}", tenant)).json()
    return deal if deal["verdict"].get("override") else None

