"""The model lifecycle on the running system: a promotion is served without a restart, every open deal is re-scored
with it exactly once while live changes keep being scored exactly once, a rollback switches back; the performance
endpoint and the drift gauges report what serves, to admins only.

Needs the ``system`` fixture (tests/conftest.py). The promotion is global, so while it lasts other tenants' open
deals are re-scored too; the test restores the original version before it ends.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from dealpulse_scorer.model import ModelRegistry
from dealpulse_scorer.training.synthetic import generate, write_csv
from dealpulse_scorer.training.train import train
from tests.support import RunningSystem, Tenant, deal_change, poll_until

OPEN_DEALS = [f"D-open-{n:02d}" for n in range(12)]
LIVE_DEALS = [f"D-live-{n}" for n in range(6)]
# A promotion re-scores the open deals of every tenant the suite has made so far, on a busy 2-core machine.
RESCORE_S = 120
LIVE_CHANGES_PER_DEAL = 5


def _train_second_model(registry: Path, work: Path) -> str:
    data = work / "second-model-deals.csv"
    write_csv(generate(1500, 1, 11), data)
    return train(data, registry, seed=1)


async def _send(system: RunningSystem, tenant: Tenant, deal_id: str, minute: int, **fields: Any) -> None:
    change = deal_change(deal_id, f"2026-11-20T10:{minute // 60:02d}:{minute % 60:02d}Z", **fields)
    response = await system.send_change(tenant, change)
    assert response.status_code == 202, response.text


async def _live_stream(system: RunningSystem, tenant: Tenant) -> None:
    """Changes to other deals of the same tenant, spread over the promotion (about 3 s)."""
    for step in range(LIVE_CHANGES_PER_DEAL):
        for n, deal_id in enumerate(LIVE_DEALS):
            await _send(system, tenant, deal_id, 100 + step, amount=10_000 + 1_000 * step + n, stage="Proposal")
            await asyncio.sleep(0.1)


async def _models_of(system: RunningSystem, tenant: Tenant, deal_ids: list[str]) -> dict[str, str]:
    rows = await system.admin_fetch(
        "SELECT deal_id, payload->>'model_version' AS version FROM deal_risk "
        "WHERE tenant_id = $1 AND deal_id = ANY($2)",
        tenant.tenant_id, deal_ids)
    return {r["deal_id"]: r["version"] for r in rows}


async def _all_scored_by(system: RunningSystem, tenant: Tenant, deal_ids: list[str], version: str) -> bool:
    models = await _models_of(system, tenant, deal_ids)
    return len(models) == len(deal_ids) and set(models.values()) == {version}


async def _rescores(system: RunningSystem, tenant: Tenant, version: str) -> list[asyncpg.Record]:
    return await system.admin_fetch(
        "SELECT deal_id, source_event_id, risk_score, payload FROM risk_scores "
        "WHERE tenant_id = $1 AND model_version = $2 AND source_event_id LIKE 'rescore:%'", tenant.tenant_id, version)


async def test_promotion_rescores_every_open_deal_once_and_rollback_switches_back(
        system: RunningSystem, tmp_path: Path) -> None:
    registry = ModelRegistry(system.registry)
    original = registry.active_version()
    assert original is not None
    tenant = await system.new_tenant("life")
    # Given open deals and a closed one, all scored by the original model
    for n, deal_id in enumerate(OPEN_DEALS):
        await _send(system, tenant, deal_id, n, amount=20_000 + 5_000 * n, stage="Discovery", owner_id="rep-1")
    await _send(system, tenant, "D-closed", 50, amount=9_000, stage="Closed Won")
    await poll_until(lambda: _all_scored_by(system, tenant, [*OPEN_DEALS, "D-closed"], original), timeout=30)
    # and a second version in the registry
    second = await asyncio.to_thread(_train_second_model, system.registry, tmp_path)
    try:
        # When it is promoted while live changes keep arriving
        stream = asyncio.create_task(_live_stream(system, tenant))
        await asyncio.sleep(1.0)
        registry.promote(second, reason="lifecycle test")
        await stream

        # Then every open deal is re-scored with it, exactly once, explained as a model update
        await poll_until(lambda: _all_scored_by(system, tenant, OPEN_DEALS + LIVE_DEALS, second), timeout=RESCORE_S)
        await asyncio.sleep(1.0)  # anything doubled would have landed by now
        rescores = await _rescores(system, tenant, second)
        per_deal = Counter(r["deal_id"] for r in rescores)
        assert {d: per_deal[d] for d in OPEN_DEALS} == dict.fromkeys(OPEN_DEALS, 1)
        assert all(per_deal[d] <= 1 for d in LIVE_DEALS), per_deal
        assert "D-closed" not in per_deal, "a closed deal is never re-scored"
        for row in rescores:
            since = orjson.loads(row["payload"])["since_previous"]  # the owner's connection has no JSON codec
            assert [c["field"] for c in since["changes"]] == ["model_version"], since
            assert since["changes"][0]["description"].startswith(f"model updated to {second}")
            assert sum(c["delta"] for c in since["changes"]) == since["delta"]
        # and published like any score: the verdict service decided on each re-score
        await poll_until(lambda: _verdicts_on_rescores(system, tenant, len(rescores)), timeout=30)
        # and each live change was scored exactly once, whichever model it met
        live = await system.admin_fetch(
            "SELECT deal_id, count(*) AS n FROM risk_scores WHERE tenant_id = $1 AND deal_id = ANY($2) "
            "AND source_event_id NOT LIKE 'rescore:%' GROUP BY deal_id", tenant.tenant_id, LIVE_DEALS)
        assert {r["deal_id"]: r["n"] for r in live} == dict.fromkeys(LIVE_DEALS, LIVE_CHANGES_PER_DEAL)
        met = await system.admin_fetch(
            "SELECT DISTINCT model_version FROM risk_scores WHERE tenant_id = $1 AND deal_id = ANY($2) "
            "AND source_event_id NOT LIKE 'rescore:%'", tenant.tenant_id, LIVE_DEALS)
        assert {r["model_version"] for r in met} == {original, second}, "the live stream straddled the switch"

        # When the promotion is rolled back, the original model serves and re-scores them again, once
        assert registry.rollback(reason="lifecycle test") == original
        await poll_until(lambda: _all_scored_by(system, tenant, OPEN_DEALS + LIVE_DEALS, original), timeout=RESCORE_S)
        await asyncio.sleep(1.0)
        back = Counter(r["deal_id"] for r in await _rescores(system, tenant, original))
        assert {d: back[d] for d in OPEN_DEALS} == dict.fromkeys(OPEN_DEALS, 1)
    finally:
        if registry.active_version() != original:
            registry.promote(original, reason="restore after the lifecycle test")


async def _verdicts_on_rescores(system: RunningSystem, tenant: Tenant, expected: int) -> bool:
    rows = await system.admin_fetch(
        "SELECT count(*) AS n FROM verdicts WHERE tenant_id = $1 AND source_event_id LIKE 'scored:rescore:%'",
        tenant.tenant_id)
    return rows[0]["n"] >= expected


async def test_model_performance_is_for_admins_and_reports_drift(system: RunningSystem) -> None:
    tenant = await system.new_tenant("perf")
    deals = [f"D-perf-{n:02d}" for n in range(35)]
    for n, deal_id in enumerate(deals):
        await _send(system, tenant, deal_id, n, amount=15_000 + 3_000 * n, stage="Proposal")
    active = ModelRegistry(system.registry).active_version()
    assert active is not None
    await poll_until(lambda: _all_scored_by(system, tenant, deals, active), timeout=30)

    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=10) as client:
        answer = await client.get("/v1/models/performance",
                                  headers={"Authorization": f"Bearer {system.token(tenant)}"})
        for role in ("rep", "manager"):
            refused = await client.get("/v1/models/performance",
                                       headers={"Authorization": f"Bearer {system.token(tenant, role, 'u-1')}"})
            assert refused.status_code == 403
            assert refused.headers["content-type"].startswith("application/problem+json")
        assert (await client.get("/v1/models/performance")).status_code == 401
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["tenant_id"] == tenant.tenant_id and report["scope"] == "global"
    assert report["active_version"] == active and report["last_trained"]
    assert {"roc_auc", "brier"} <= set(report["metrics"]["model"])
    assert report["predictions"]["open_deals"] == len(deals)
    assert sum(report["predictions"]["by_category"].values()) == len(deals)
    assert report["predictions"]["by_model_version"] == {active: len(deals)}
    assert report["drift"]["rows"] == len(deals)
    assert len(report["drift"]["psi"]) == 22, "PSI per feature of the tenant's own traffic"
    skew = report["skew"]
    assert skew["reference"] == "all training open deals" and skew["reference_deals"] > 0
    assert skew["open_deals"] == len(deals) and abs(sum(skew["live_shares"].values()) - 1) < 1e-3
    assert set(skew["training_shares"]) == set(skew["difference_pp"]) == {"low", "medium", "high", "critical"}
    assert len(skew["psi"]) == 22, "PSI per feature of the live open deals against training's"
    assert skew["skewed"] == bool(skew["skewed_categories"] or skew["skewed_features"])

    async def psi_exported() -> bool:
        psi = [s for s in await system.metric_samples("scorer", "dealpulse_feature_psi")
               if s.labels.get("scope") == "global"]
        return len(psi) == 22

    await poll_until(psi_exported, timeout=20, interval=0.5)


async def test_only_tenant_ids_cross_the_row_level_security_line(system: RunningSystem) -> None:
    tenant = await system.new_tenant("rls")
    await _send(system, tenant, "D-rls", 1, amount=1_000, stage="Proposal")
    active = ModelRegistry(system.registry).active_version()
    await poll_until(lambda: _all_scored_by(system, tenant, ["D-rls"], active or ""), timeout=30)
    conn = await asyncpg.connect(system.stack.database_url)  # the services' own role
    try:
        listed = [r[0] for r in await conn.fetch("SELECT * FROM scorer_open_deal_tenants()")]
        assert tenant.tenant_id in listed
        assert await conn.fetch("SELECT * FROM deal_risk") == [], "no tenant set still means no rows"
        try:
            await conn.execute("SET ROLE dealpulse_tenant_lister")
        except asyncpg.InsufficientPrivilegeError:
            pass
        else:
            raise AssertionError("the service role must not be able to become the listing role")
    finally:
        await conn.close()
