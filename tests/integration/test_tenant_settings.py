"""``GET/PUT /v1/admin/settings``: verdict thresholds, commit gates, downgrade depth, alert rules and staleness,
validated, each section versioned and audited on its own, and applied by verdict, alerts and the gateway without a
restart."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from dealpulse_common.events import RiskCategory, ScoreDelta, utcnow
from dealpulse_common.topics import DEAL_SCORED
from tests import events
from tests.support import RunningSystem, Tenant, deal_change, from_json, poll_until, seed_deal

# Health score 20: Best Case under the default thresholds (18 <= 20 < 24), Commit once Commit starts at 20.
QUALIFIED = {category: {"score": 2, "evidence_strength": "moderate", "confidence": "medium"}
             for category in ("pain", "metrics", "champion", "economic_buyer", "decision_criteria", "process",
                              "paper", "timing", "budget", "competition")}


async def _settings(system: RunningSystem, tenant: Tenant, body: dict[str, Any] | None = None,
                    role: str = "admin") -> Any:
    method = "GET" if body is None else "PUT"
    return await system.gateway(method, "/v1/admin/settings", tenant, role, "adm-1", json=body)


def _versions(view: dict[str, Any]) -> dict[str, int]:
    return {section: view[section]["version"] for section in ("verdict", "alert_rules", "staleness")}


async def test_each_section_starts_at_its_defaults_and_counts_its_own_edits(system: RunningSystem) -> None:
    tenant = await system.new_tenant("set")
    start = (await _settings(system, tenant)).json()
    assert _versions(start) == {"verdict": 0, "alert_rules": 0, "staleness": 0}
    assert not any(start[section]["configured"] for section in ("verdict", "alert_rules", "staleness"))
    assert start["verdict"]["values"]["commit_health_score"] == 24
    assert start["alert_rules"]["values"] == {"throttle_hours": 24.0, "risk_jump_points": 20,
                                              "risk_jump_window_days": 7.0}
    assert start["staleness"]["values"] == {"stale_after_days": 14}

    # A stage-mapping edit is no edit of the thresholds (it used to bump the one version verdicts stamp).
    mapping = await system.gateway("PUT", "/v1/admin/stage-mappings", tenant, json={"stages": {"Won": "closed_won"}})
    assert mapping.status_code == 200 and mapping.json()["version"] == 1
    assert _versions((await _settings(system, tenant)).json())["verdict"] == 0

    verdict = {"commit_health_score": 20, "best_case_health_score": 15, "downgrade_levels": 2,
               "gate_categories": ["paper", "budget"], "gates_required": 1}
    edited = await _settings(system, tenant, {"verdict": verdict})
    assert edited.status_code == 200, edited.text
    assert _versions(edited.json()) == {"verdict": 1, "alert_rules": 0, "staleness": 0}
    assert edited.json()["verdict"]["configured"] and edited.json()["verdict"]["values"]["gates_required"] == 1
    unchanged = await _settings(system, tenant, {"verdict": verdict})
    assert _versions(unchanged.json())["verdict"] == 1, "an edit that changes nothing is no new version"
    both = await _settings(system, tenant, {"alert_rules": {"risk_jump_points": 10}, "staleness": {
        "stale_after_days": 3}})
    assert _versions(both.json()) == {"verdict": 1, "alert_rules": 1, "staleness": 1}
    assert both.json()["alert_rules"]["values"]["throttle_hours"] == 24.0, "a field left out is its default"

    audit = await system.admin_fetch("SELECT actor, action, subject, detail FROM audit_log WHERE tenant_id = $1 "
                                     "AND action = 'settings.update' ORDER BY audit_id", tenant.tenant_id)
    assert [(a["actor"], a["subject"]) for a in audit] == [("adm-1", "verdict"), ("adm-1", "alert_rules"),
                                                            ("adm-1", "staleness")]
    first = from_json(audit[0]["detail"])
    assert first["before"] is None and first["after"]["commit_health_score"] == 20
    assert from_json(audit[1]["detail"])["version"] == 1


@pytest.mark.parametrize("body", [
    {},
    {"verdict": {"best_case_health_score": 25}},  # above the Commit threshold of 24
    {"verdict": {"commit_health_score": 31}},
    {"verdict": {"gate_categories": ["paper", "paper"]}},
    {"verdict": {"gate_categories": ["paper"], "gates_required": 2}},
    {"verdict": {"downgrade_levels": 3}},
    {"verdict": {"bogus": 1}},
    {"alert_rules": {"throttle_hours": 0}},
    {"alert_rules": {"risk_jump_points": "many"}},
    {"staleness": {"stale_after_days": 0}},
    {"thresholds": {}},
], ids=["nothing", "best-case-above-commit", "out-of-range", "repeated-gate", "more-gates-than-categories",
        "downgrade-too-deep", "unknown-field", "no-throttle", "not-a-number", "zero-days", "unknown-section"])
async def test_bad_settings_are_refused_and_nothing_is_stored(system: RunningSystem, body: dict[str, Any]) -> None:
    tenant = await system.new_tenant("setbad")
    refused = await _settings(system, tenant, body)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert _versions((await _settings(system, tenant)).json()) == {"verdict": 0, "alert_rules": 0, "staleness": 0}
    assert await system.count_rows("audit_log", tenant) == 0


async def test_only_admins_read_or_edit_settings(system: RunningSystem) -> None:
    tenant = await system.new_tenant("setrole")
    for role in ("rep", "manager"):
        for body in (None, {"staleness": {"stale_after_days": 2}}):
            refused = await _settings(system, tenant, body, role=role)
            assert refused.status_code == 403 and refused.json()["status"] == 403, (role, body)
    assert await system.count_rows("audit_log", tenant) == 0


async def test_a_threshold_edit_decides_the_next_verdict_without_a_restart(system: RunningSystem) -> None:
    tenant = await system.new_tenant("setvd")
    change = deal_change("D-1", "2026-11-20T10:00:00Z", name="Initech", amount=40_000, stage="Proposal",
                         owner_id="rep-1", qualification=QUALIFIED)
    assert (await system.send_change(tenant, change)).status_code == 202
    first = (await poll_until(lambda: _verdicts(system, tenant, 1)))[-1]
    assert (first["ai_forecast"], first["thresholds_version"]) == ("best_case", "default-1")

    assert (await _settings(system, tenant, {"verdict": {"commit_health_score": 20}})).status_code == 200
    # Verdict reuses a tenant's thresholds for a few seconds: a change every half second until one is judged anew.
    sent = 0

    async def judged_anew() -> dict[str, Any] | None:
        nonlocal sent
        sent += 1
        later = deal_change("D-1", f"2026-11-20T11:{sent // 60:02d}:{sent % 60:02d}Z", amount=40_000 + sent)
        assert (await system.send_change(tenant, later)).status_code == 202
        latest = (await poll_until(lambda: _verdicts(system, tenant, sent + 1)))[-1]
        return latest if latest["thresholds_version"] != "default-1" else None

    judged = await poll_until(judged_anew, timeout=40, interval=0.5)
    assert (judged["ai_forecast"], judged["thresholds_version"]) == ("commit", "tenant-1")


async def _verdicts(system: RunningSystem, tenant: Tenant, n: int) -> list[dict[str, Any]] | None:
    """The tenant's verdicts, oldest first, once there are ``n``."""
    rows = await system.admin_fetch("SELECT payload FROM verdicts WHERE tenant_id = $1 ORDER BY decided_at",
                                    tenant.tenant_id)
    return [from_json(row["payload"]) for row in rows] if len(rows) >= n else None


async def test_an_alert_rule_edit_decides_the_next_alert_without_a_restart(system: RunningSystem) -> None:
    tenant = await system.new_tenant("setal")

    async def rise_of_15(deal_id: str) -> None:
        """A score of 55 an hour after one of 40: a risk jump once jumps start at 10, not under the default 20."""
        now = utcnow()
        deal = events.deal(tenant.tenant_id, deal_id, name=f"Deal {deal_id}", owner_id="rep-1")
        since = ScoreDelta(previous_risk_score=40, previous_scored_at=now - timedelta(hours=1), delta=15, changes=[])
        data = events.scored_data(deal, risk_score=55, since_previous=since, previous_category=RiskCategory.MEDIUM,
                                  scored_at=now, source_event_id=f"crm-{deal_id}")
        await system.publish(DEAL_SCORED, [events.scored_event(data)])

    async def alerts_of(alert_type: str) -> list[str]:
        rows = await system.admin_fetch("SELECT deal_id FROM alerts WHERE tenant_id = $1 AND alert_type = $2",
                                        tenant.tenant_id, alert_type)
        return [row["deal_id"] for row in rows]

    await rise_of_15("D-before")
    # Then the same deal enters critical: on the same partition, so once its alert is there, the rise was judged.
    marker = events.scored_data(events.deal(tenant.tenant_id, "D-before", owner_id="rep-1"), risk_score=90,
                                previous_category=RiskCategory.HIGH, scored_at=utcnow() + timedelta(seconds=1),
                                source_event_id="crm-D-before-critical")
    await system.publish(DEAL_SCORED, [events.scored_event(marker)])
    assert await poll_until(lambda: alerts_of("entered_critical")) == ["D-before"]
    assert await alerts_of("risk_jump") == [], "a rise of 15 is no jump under the default of 20"

    assert (await _settings(system, tenant, {"alert_rules": {"risk_jump_points": 10}})).status_code == 200
    # Alerts reuses a tenant's rules for a few seconds: a rise on a deal of its own every half second until one
    # raised a risk jump (each probe looks for the alerts of every rise before it).
    rises = 0

    async def jumped() -> list[str]:
        nonlocal rises
        rises += 1
        await rise_of_15(f"D-after-{rises}")
        return await alerts_of("risk_jump")

    assert all(deal_id.startswith("D-after-") for deal_id in await poll_until(jumped, timeout=40, interval=0.5))


async def test_a_tenants_staleness_decides_what_is_stale(system: RunningSystem) -> None:
    tenant = await system.new_tenant("setst")
    await seed_deal(system, tenant, "D-3days", scored_ago=timedelta(days=3))
    assert (await system.gateway("GET", "/v1/deals/D-3days", tenant)).json()["stale"] is False
    assert (await _settings(system, tenant, {"staleness": {"stale_after_days": 2}})).status_code == 200
    assert (await system.gateway("GET", "/v1/deals/D-3days", tenant)).json()["stale"] is True
    stale = (await system.gateway("GET", "/v1/deals", tenant, params={"stale": "true"})).json()
    assert [d["deal_id"] for d in stale["deals"]] == ["D-3days"]
