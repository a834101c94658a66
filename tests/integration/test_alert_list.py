"""GET /v1/alerts: the recent alerts the dashboard's panel opens on — newest first, each with its latest feedback,
limited to the deals the caller may see, filtered and paged. Needs the ``system`` fixture."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.alert_setup import critical_score, publish_scores
from tests.support import RunningSystem, Tenant, poll_until, utcnow


async def _alerts(system: RunningSystem, tenant: Tenant, role: str = "admin", user: str = "test-admin",
                  **params: Any) -> dict[str, Any]:
    response = await system.gateway("GET", "/v1/alerts", tenant, role, user, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _raised(system: RunningSystem, tenant: Tenant, count: int) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        alerts: list[dict[str, Any]] = (await _alerts(system, tenant))["alerts"]
        return alerts if len(alerts) >= count else None

    return await poll_until(probe, timeout=30)


async def test_recent_alerts_newest_first_with_feedback_scoped_and_paged(system: RunningSystem) -> None:
    tenant = await system.new_tenant("alist")
    earlier = utcnow() - timedelta(minutes=10)
    await publish_scores(system, [critical_score(tenant, "A-old", "rep-1", scored_at=earlier),
                                  critical_score(tenant, "A-new", "rep-2"),
                                  critical_score(tenant, "A-mine", "rep-1")])
    alerts = await _raised(system, tenant, 3)

    assert len(alerts) == 3
    assert [a["raised_at"] for a in alerts] == sorted((a["raised_at"] for a in alerts), reverse=True)
    old = next(a for a in alerts if a["deal_id"] == "A-old")
    assert alerts[-1] == old, "the alert on the deal scored ten minutes ago is the oldest"
    assert old["alert_type"] == "entered_critical" and old["severity"] == "critical"
    assert old["owner_id"] == "rep-1" and old["currency"] == "USD" and old["feedback"] is None

    feedback = await system.gateway("POST", f"/v1/alerts/{old['alert_id']}/feedback", tenant, "rep", "rep-1",
                                    json={"action": "acknowledge"})
    assert feedback.status_code == 200, feedback.text
    mine = (await _alerts(system, tenant, "rep", "rep-1"))["alerts"]
    assert {a["deal_id"] for a in mine} == {"A-old", "A-mine"}, "a rep sees alerts on their own deals only"
    acknowledged = next(a for a in mine if a["deal_id"] == "A-old")["feedback"]
    assert acknowledged["action"] == "acknowledge" and acknowledged["by"] == "rep-1"

    assert [a["deal_id"] for a in (await _alerts(system, tenant, deal_id="A-new"))["alerts"]] == ["A-new"]
    assert (await _alerts(system, tenant, alert_type="risk_jump"))["alerts"] == []
    first = await _alerts(system, tenant, limit=2)
    assert first["has_more"] is True and [a["alert_id"] for a in first["alerts"]] == [
        a["alert_id"] for a in alerts[:2]]
    rest = await _alerts(system, tenant, limit=2, before=first["next_before"], before_id=first["next_before_id"])
    assert rest["has_more"] is False and rest["next_before"] is None and rest["next_before_id"] is None
    assert [a["alert_id"] for a in rest["alerts"]] == [alerts[2]["alert_id"]]


async def test_alerts_raised_in_the_same_microsecond_are_paged_each_once(system: RunningSystem) -> None:
    tenant = await system.new_tenant("alisttie")
    await publish_scores(system, [critical_score(tenant, f"T-{n}", "rep-1") for n in range(3)])
    await _raised(system, tenant, 3)
    # The alerts service stamps them a few microseconds apart; one instant for all makes the tie certain.
    await system.admin_fetch("UPDATE alerts SET raised_at = (SELECT min(raised_at) FROM alerts WHERE tenant_id = $1)"
                             " WHERE tenant_id = $1", tenant.tenant_id)
    seen: list[str] = []
    page = await _alerts(system, tenant, limit=1)
    for _ in range(5):  # three pages are expected; a cursor that loops must not hang the test
        seen.extend(a["alert_id"] for a in page["alerts"])
        if not page["has_more"]:
            break
        page = await _alerts(system, tenant, limit=1, before=page["next_before"], before_id=page["next_before_id"])
    assert not page["has_more"] and len(seen) == 3 and seen == sorted(seen, reverse=True), "each tied alert once, by id"


async def test_bad_alert_list_parameters_are_422_problems(system: RunningSystem) -> None:
    tenant = await system.new_tenant("alistbad")
    for params in ({"severity": "urgent"}, {"alert_type": "nope"}, {"limit": "0"}, {"limit": "201"},
                   {"before": "yesterday"}):
        response = await system.gateway("GET", "/v1/alerts", tenant, params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
