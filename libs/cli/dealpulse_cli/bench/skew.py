"""Live/training skew on the demo feed: the risk categories of the live open deals next to the training set's
open-deal shares, and the PSI of every feature, from the model's performance report (read through the gateway)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from dealpulse_cli.bench.harness import BenchSystem, bench_system, feed_for
from dealpulse_cli.bench.report import write_section
from dealpulse_cli.bootstrap import DEMO_TENANT
from dealpulse_cli.demo_feed import DemoCrm
from dealpulse_common.auth import issue_token
from dealpulse_common.settings import ServiceSettings

# The demo feed replays the world of the demo tenant: its training open deals are the reference.
SKEW_TENANT = DEMO_TENANT
SETTLED_S = 5.0  # scoring has caught up when no new score arrived for this long
CATCH_UP_S = 180.0
FEED_CAP_S = 900.0  # a feed slower than this is cut short (and the report says how many cycles it completed)


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


async def measure(system: BenchSystem, secret: str, cycles: int, rate: float,
                  initial_deals: int) -> dict[str, Any]:
    """Run ``cycles`` of the demo feed (the second closes the first's deals and replays a fresh pipeline), let
    scoring catch up, and read the performance report."""
    crm = DemoCrm(system.supervisor.url("ingest"), SKEW_TENANT, secret)
    feed_s = await feed_for(crm, FEED_CAP_S, rate, initial_deals, max_cycles=cycles)
    database = await asyncpg.connect(system.stack.admin_database_url)
    try:
        scores = await _settled(database)
        changes = await database.fetchval(
            "SELECT count(*) FROM deal_events WHERE tenant_id = $1 AND outcome = 'applied'", SKEW_TENANT)
    finally:
        await database.close()
    # As an admin reads it: through the gateway, which holds the scorer's service credential.
    token = issue_token(ServiceSettings().jwt_secret, SKEW_TENANT, "admin", "bench", 600)
    async with httpx.AsyncClient(base_url=system.supervisor.url("gateway"), timeout=30) as client:
        response = await client.get("/v1/models/performance", headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
    report: dict[str, Any] = response.json()
    return {"performance": report, "changes": changes, "scores": scores, "rejected": crm.rejected,
            "sent": crm.sent, "cycles": crm.cycles_completed, "feed_s": feed_s, "rate": rate,
            "initial_deals": initial_deals}


def run_skew_bench(report: Path, cycles: int = 2, rate: float = 100.0, initial_deals: int = 400) -> dict[str, Any]:
    secret = uuid.uuid4().hex
    with bench_system(SKEW_TENANT, secret) as system:
        result = asyncio.run(measure(system, secret, cycles, rate, initial_deals))
    write_section(report, "skew", _markdown(result),
                  f"dealpulse bench skew  # {cycles} demo-feed cycles of {initial_deals} open deals, "
                  f"offered at {rate:g} changes/s")
    return result


def summary_lines(result: dict[str, Any]) -> list[str]:
    skew = result["performance"]["skew"]
    worst = max((abs(v) for v in skew["difference_pp"].values()), default=float("nan"))
    highest = max(skew["psi"].values(), default=float("nan"))
    return [f"skew: live vs training open-deal shares differ by at most {worst:.1f} pp "
            f"(threshold {skew['share_threshold_pp']:g}); highest PSI {highest:.3f} "
            f"(threshold {skew['psi_threshold']:g}); skewed: {skew['skewed']}"]


def _psi_rows(skew_psi: dict[str, float], drift_psi: dict[str, float]) -> list[str]:
    order = sorted(skew_psi, key=lambda name: -skew_psi[name])
    return [f"| {name} | {skew_psi[name]:.3f} | {drift_psi.get(name, float('nan')):.3f} |" for name in order]


def _markdown(result: dict[str, Any]) -> str:
    performance = result["performance"]
    skew, drift = performance["skew"], performance["drift"]
    training = skew["training_shares"] or {}
    categories = [f"| {c} | {100 * training.get(c, float('nan')):.1f} % | {100 * share:.1f} % | "
                  f"{skew['difference_pp'].get(c, float('nan')):+.1f} |" for c, share in skew["live_shares"].items()]
    named = f"categories {skew['skewed_categories'] or 'none'}, features {skew['skewed_features'] or 'none'}"
    verdict = "**Not skewed**" if not skew["skewed"] else f"**Skewed**: {named}"
    return "\n".join([
        "## Live vs training: the demo feed's open deals against the training set's",
        "",
        f"The demo CRM feed (`DemoCrm`: the demo tenant's synthetic world, the one the demo model was trained on, "
        f"replayed as signed webhooks from its connection on) ran {result['cycles']} cycles of "
        f"{result['initial_deals']} open deals each (the second closes the first's deals with their drawn outcomes "
        f"and replays a fresh pipeline) in {result['feed_s']:.0f} s, offered at {result['rate']:g} changes/s, into "
        f"the whole system: {result['sent']:,} webhooks, {result['changes']:,} changes applied, "
        f"{result['scores']:,} scores, {result['rejected']} webhooks rejected. Compared: the tenant's "
        f"{skew['open_deals']} live open deals (latest score and feature vector of each) against the "
        f"{skew['reference']} ({skew['reference_deals']:,}) scored by the same version "
        f"({performance['active_version']}). Thresholds (docs/MODEL.md): {skew['share_threshold_pp']:g} percentage "
        f"points per category, PSI {skew['psi_threshold']:g} per feature. {verdict}.",
        "",
        "| risk category | training open deals | live open deals | live − training, pp |",
        "| --- | ---: | ---: | ---: |",
        *categories,
        "",
        "PSI per feature: the live open deals against the training open deals (what `skew` judges), and beside it "
        f"the scorer's traffic drift window ({drift['rows']:,} vectors, every scored change including the replay's "
        "first weeks after connection) against the training split of closed deals, the operational drift signal.",
        "",
        "| feature | PSI open deals vs training open deals | PSI traffic window vs training split |",
        "| --- | ---: | ---: |",
        *_psi_rows(skew["psi"], drift["psi"]),
    ])
