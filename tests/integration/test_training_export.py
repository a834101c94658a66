"""Live scores and training rows see a deal alike: the history ingest folds is the history a training row holds,
and the live store exports into rows that ``dealpulse train`` takes unchanged."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dealpulse_common.deal import CanonicalDeal
from dealpulse_scorer.features import FEATURE_NAMES, SegmentPriors, build_features
from dealpulse_scorer.model import ModelRegistry
from dealpulse_scorer.training.dataset import read_deals
from tests.support import RunningSystem, StreamClient, Tenant, deal_change

CLI = Path(sys.executable).parent / "dealpulse"
LAST_CHANGE = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
PRIORS = SegmentPriors(global_rate=0.3)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _days_before_last(days: float) -> str:
    return _iso(LAST_CHANGE - timedelta(days=days))


async def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, [str(CLI), *args], env={**os.environ, **(env or {})},
                                   capture_output=True, text=True, timeout=300)


async def _export(system: RunningSystem, tenant: Tenant, out: Path, *extra: str) -> dict[str, Any]:
    result = await _cli("export-training", "--tenant", tenant.tenant_id, "--out", str(out), *extra,
                        env={"DATABASE_URL": system.stack.database_url})
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


# A deal created while DealPulse watched, and one first seen mid-life whose CRM sends the history it knows.
WATCHED = [
    deal_change("P-WATCHED", _days_before_last(20), stage="Prospecting", amount=20_000, industry="Software",
                created_at=_days_before_last(20.2), expected_close_date="2026-12-15",
                last_activity_at=_days_before_last(20.1), event_id="w-1"),
    deal_change("P-WATCHED", _days_before_last(12), expected_close_date="2027-01-10",
                last_activity_at=_days_before_last(12), event_id="w-2"),
    deal_change("P-WATCHED", _days_before_last(5), stage="Proposal", amount=26_000, event_id="w-3"),
    deal_change("P-WATCHED", _iso(LAST_CHANGE), last_activity_at=_days_before_last(0.5), event_id="w-4"),
]
MID_LIFE = [
    deal_change("P-MIDLIFE", _days_before_last(3), stage="Negotiation", amount=90_000, region="EMEA",
                created_at=_days_before_last(120), expected_close_date="2026-12-20",
                last_activity_at=_days_before_last(4), event_id="m-1",
                history={"close_date_push_count": 2, "activity_count_30d": 7,
                         "stage_entered_at": _days_before_last(25)}),
    deal_change("P-MIDLIFE", _iso(LAST_CHANGE), expected_close_date="2027-01-31", event_id="m-2"),
]


async def test_the_scorers_features_equal_the_exported_training_row_field_by_field(
        system: RunningSystem, tmp_path: Path) -> None:
    tenant = await system.new_tenant("parity")
    stream = await StreamClient.connect(system.ws_url(), system.token(tenant))
    try:
        for change in [*WATCHED, *MID_LIFE]:
            response = await system.send_change(tenant, change)
            assert response.status_code == 202, response.text
        scored: dict[str, dict[str, Any]] = {}
        for last_event in ("w-4", "m-2"):
            message = await stream.wait_for(lambda m, e=last_event: m.get("kind") == "score"
                                            and m["event"]["data"]["source_event_id"] == e)
            scored[message["event"]["dealid"]] = message["event"]["data"]["deal"]
    finally:
        await stream.close()

    out = tmp_path / "rows.csv"
    summary = await _export(system, tenant, out, "--as-of", LAST_CHANGE.isoformat())
    assert summary["open"] == 2 and summary["rows"] == 2
    rows = {deal.deal_id: (deal, as_of) for deal, as_of, _ in read_deals(out)}
    for deal_id, live_payload in scored.items():
        live = CanonicalDeal.model_validate(live_payload)
        exported, as_of = rows[deal_id]
        assert as_of == LAST_CHANGE == live.source_modified_at
        assert exported.history == live.history, deal_id
        live_x = build_features(live, LAST_CHANGE, PRIORS)
        row_x = build_features(exported, as_of, PRIORS)
        assert dict(zip(FEATURE_NAMES, live_x.tolist(), strict=True)) == dict(
            zip(FEATURE_NAMES, row_x.tolist(), strict=True)), deal_id

    watched, mid_life = rows["P-WATCHED"][0].history, rows["P-MIDLIFE"][0].history
    assert (watched.close_date_push_count, watched.amount_change_count, watched.activity_count_30d) == (1, 1, 3)
    assert watched.stage_entered_at == LAST_CHANGE - timedelta(days=5)
    assert (mid_life.close_date_push_count, mid_life.activity_count_30d) == (3, 7 - 1)  # the CRM's, counted on
    assert mid_life.amount_change_count is None  # neither the CRM nor DealPulse knows it: unknown, not 0


def _deal_life(i: int) -> list[dict[str, Any]]:
    """A closed deal's changes whose outcome follows its pushes and activity, so a model has something to learn."""
    start = LAST_CHANGE - timedelta(days=200 - i % 60)
    pushes = i % 4
    won = (pushes <= 1) != (i % 7 == 0)
    changes = [deal_change(f"R-{i}", _iso(start), stage="Prospecting", amount=10_000 + 1_000 * (i % 9),
                           created_at=_iso(start - timedelta(hours=1)), expected_close_date="2026-09-01",
                           industry=("Software", "Retail", "Media")[i % 3], last_activity_at=_iso(start))]
    for p in range(pushes):
        changes.append(deal_change(f"R-{i}", _iso(start + timedelta(days=10 * (p + 1))),
                                   expected_close_date=f"2026-{10 + p:02d}-01"))
    if won:
        changes.append(deal_change(f"R-{i}", _iso(start + timedelta(days=45)), stage="Proposal",
                                   last_activity_at=_iso(start + timedelta(days=45))))
    changes.append(deal_change(f"R-{i}", _iso(start + timedelta(days=60)),
                               stage="Closed Won" if won else "Closed Lost"))
    return changes


def _as_csv(changes: list[dict[str, Any]]) -> bytes:
    columns = sorted({key for change in changes for key in change})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(changes)
    return out.getvalue().encode()


async def test_the_live_store_exports_rows_that_train_a_model(system: RunningSystem, tmp_path: Path) -> None:
    tenant = await system.new_tenant("export")
    changes = [change for i in range(140) for change in _deal_life(i)]
    started = await system.upload_import(tenant, _as_csv(changes))
    assert started.status_code == 202, started.text
    job = await system.import_finished(tenant, started.json()["id"], timeout=120)
    assert (job["status"], job["accepted"]) == ("done", len(changes)), job
    open_deal = deal_change("R-OPEN", _days_before_last(2), stage="Discovery", amount=5_000,
                            created_at=_days_before_last(2.5))
    deleted = deal_change("R-DELETED", _days_before_last(9), stage="Proposal", amount=7_000)
    for change in (open_deal, deleted, deal_change("R-DELETED", _days_before_last(8), deleted=True)):
        assert (await system.send_change(tenant, change)).status_code == 202

    out = tmp_path / "export.csv"
    summary = await _export(system, tenant, out)
    assert summary == {**summary, "rows": 141, "closed": 140, "open": 1, "excluded": {"deleted in the CRM": 1}}
    for deal, as_of, outcome in read_deals(out):
        assert deal.source_modified_at is not None and deal.source_modified_at <= as_of
        if outcome is not None:
            assert deal.closed_at is not None and as_of < deal.closed_at and deal.stage in (
                "prospecting", "proposal")

    since = await _export(system, tenant, tmp_path / "recent.csv", "--since", "2026-10-01")
    assert since["closed"] + since["excluded"]["closed before --since"] == 140

    registry = tmp_path / "registry"
    trained = await _cli("train", "--data", str(out), "--registry", str(registry))
    assert trained.returncode == 0, trained.stderr
    version = trained.stdout.split()[1]
    manifest = json.loads(next(registry.rglob(f"{version}/manifest.json")).read_text())
    assert manifest["data_rows_used"] == 140


async def test_retrain_trains_each_tenant_on_its_export_and_promotes_only_through_the_gate(
        system: RunningSystem, tmp_path: Path) -> None:
    """The retrain CronJob's command: the tenant model serves only if the gate says it beats the global model."""
    tenant, empty = await system.new_tenant("retrain"), await system.new_tenant("retrain-empty")
    changes = [change for i in range(230) for change in _deal_life(i)]
    started = await system.upload_import(tenant, _as_csv(changes))
    job = await system.import_finished(tenant, started.json()["id"], timeout=180)
    assert (job["status"], job["accepted"]) == ("done", len(changes)), job
    registry = tmp_path / "registry"  # the running system's active global model, in a registry of the test's own
    shutil.copytree(system.registry, registry, ignore=shutil.ignore_patterns("demo-data"))

    result = await _cli("retrain", "--tenant", tenant.tenant_id, "--tenant", empty.tenant_id,
                        "--registry", str(registry), env={"DATABASE_URL": system.stack.database_url})
    assert result.returncode == 0, result.stderr
    trained_line, empty_line = result.stdout.strip().splitlines()
    assert empty_line.startswith(f"tenant {empty.tenant_id}: not trained: 0 closed deals"), empty_line
    models = ModelRegistry(registry)
    assert models.list_versions(empty.tenant_id) == []
    [version] = [info.version for info in models.list_versions(tenant.tenant_id)]
    recorded = json.loads((models.version_dir(version, tenant.tenant_id) / "metrics.json").read_text())
    gate_says_beats = recorded["global_on_holdout"]["tenant_model_beats_global"]
    assert models.active_version(tenant.tenant_id) == (version if gate_says_beats else None), trained_line
    assert (f"active for tenant {tenant.tenant_id}: {version}" in trained_line) is gate_says_beats, trained_line
    assert not list(registry.rglob("*.csv")), "the export is input only: nothing of it stays in the registry"
