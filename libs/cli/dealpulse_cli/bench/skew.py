"""Live/training skew on the demo feed: the risk categories of the live open deals next to the training set's
open-deal shares, and the PSI of every feature, read from the scorer's own performance report."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from dealpulse_cli.bench.harness import BenchSystem, bench_system
from dealpulse_cli.bench.report import write_section
from dealpulse_cli.demo_feed import DemoCrm

SKEW_TENANT = "bench-skew"
SETTLED_S = 5.0  # scoring has caught up when no new score arrived for this long
CATCH_UP_S = 180.0


async def _scores(database: asyncpg.Connection) -> int:
    count: int = await database.fetchval("SELECT count(*) FROM risk_scores WHERE tenant_id = $1", SKEW_TENANT)
    return count


async def _settled(database: asyncpg.Connection) -> int:
    """The score count once it stopped growing (bounded by CATCH_UP_S)."""
    deadline, last, last_change = time.monotonic() + CATCH_UP_S, -1, time.monotonic()
    while time.monotonic() < deadline:
        count = await _scores(database)
        if count != last:
            last, last_change = count, time.monotonic()
        elif time.monotonic() - last_change >= SETTLED_S:
            return count
        await asyncio.sleep(0.5)
    return last


async def measure(system: BenchSystem, secret: str, duration_s: float, rate: float,
                  initial_deals: int) -> dict[str, Any]:
    """Run the demo feed for ``duration_s`` (bounded), let scoring catch up, and read the performance report."""
    stop = asyncio.Event()
    crm = DemoCrm(system.supervisor.url("ingest"), SKEW_TENANT, secret)
    feed = asyncio.create_task(crm.run(initial_deals=initial_deals, rate_per_s=rate, stop=stop))
    await asyncio.wait({feed}, timeout=duration_s)
    stop.set()
    await feed
    database = await asyncpg.connect(system.stack.admin_database_url)
    try:
        scores = await _settled(database)
        changes = await database.fetchval(
            "SELECT count(*) FROM deal_events WHERE tenant_id = $1 AND outcome = 'applied'", SKEW_TENANT)
    finally:
        await database.close()
    async with httpx.AsyncClient(base_url=system.supervisor.url("scorer"), timeout=30) as client:
        response = await client.get("/model/performance", params={"tenant_id": SKEW_TENANT})
        response.raise_for_status()
    report: dict[str, Any] = response.json()
    return {"performance": report, "changes": changes, "scores": scores, "rejected": crm.rejected,
            "duration_s": duration_s, "rate": rate}


def run_skew_bench(report: Path, duration_s: float = 240.0, rate: float = 50.0,
                   initial_deals: int = 200) -> dict[str, Any]:
    secret = uuid.uuid4().hex
    with bench_system(SKEW_TENANT, secret) as system:
        result = asyncio.run(measure(system, secret, duration_s, rate, initial_deals))
    write_section(report, "skew", _markdown(result),
                  f"dealpulse bench skew  # demo feed {duration_s:g} s at {rate:g} changes/s")
    return result


def summary_lines(result: dict[str, Any]) -> list[str]:
    skew = result["performance"]["skew"]
    worst = max((abs(v) for v in skew["difference_pp"].values()), default=float("nan"))
    psi = result["performance"]["drift"]["psi"]
    return [f"skew: live vs training open-deal shares differ by at most {worst:.1f} pp "
            f"(threshold {skew['share_threshold_pp']:g}); highest PSI {max(psi.values(), default=float('nan')):.3f} "
            f"(threshold {skew['psi_threshold']:g}); skewed: {skew['skewed']}"]


def _markdown(result: dict[str, Any]) -> str:
    performance = result["performance"]
    skew, drift = performance["skew"], performance["drift"]
    training = skew["training_shares"] or {}
    categories = [f"| {c} | {100 * training.get(c, float('nan')):.1f} % | {100 * share:.1f} % | "
                  f"{skew['difference_pp'].get(c, float('nan')):+.1f} |" for c, share in skew["live_shares"].items()]
    psi_rows = [f"| {name} | {value:.3f} |" for name, value in sorted(drift["psi"].items(), key=lambda kv: -kv[1])]
    named = f"categories {skew['skewed_categories'] or 'none'}, features {skew['skewed_features'] or 'none'}"
    verdict = "**Not skewed**" if not skew["skewed"] else f"**Skewed**: {named}"
    return "\n".join([
        "## Live vs training: the demo feed's open deals against the training set's",
        "",
        f"The demo CRM feed (`DemoCrm`, the same world the demo model was trained on) ran for "
        f"{result['duration_s']:g} s at {result['rate']:g} changes/s into the whole system: {result['changes']:,} "
        f"changes applied, {result['scores']:,} scores, {result['rejected']} webhooks rejected. Shares are of the "
        f"tenant's {performance['predictions']['open_deals']} open deals (latest score each) against the training "
        f"set's open deals scored by the same version ({performance['active_version']}); PSI is over the "
        f"scorer's rolling window of {drift['rows']:,} live feature vectors against the training split. "
        f"Thresholds (docs/MODEL.md): {skew['share_threshold_pp']:g} percentage points per category, PSI "
        f"{skew['psi_threshold']:g} per feature. {verdict}.",
        "",
        "| risk category | training open deals | live open deals | live − training, pp |",
        "| --- | ---: | ---: | ---: |",
        *categories,
        "",
        "| feature | PSI |",
        "| --- | ---: |",
        *psi_rows,
    ])
