"""Alert volume on the demo feed: how many alerts a rep would get, by type, and how many went to the digest.

The demo CRM feed (``DemoCrm``) runs for a bounded time into the whole system, with the tenant setting a newly
connected CRM should have (``first_score_critical_to_digest``); then the alerts table and the alerts service's
counters are read.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from dealpulse_cli.bench.harness import BenchSystem, bench_system, feed_for
from dealpulse_cli.bench.report import write_section
from dealpulse_cli.demo_feed import DemoCrm
from dealpulse_common.auth import issue_token
from dealpulse_common.settings import ServiceSettings

ALERTS_TENANT = "bench-alerts"
SETTLED_S = 5.0  # the pipeline has caught up when scores, verdicts and alerts stopped growing for this long
CATCH_UP_S = 180.0
# DESIGN.md's sizing: 5·10⁷ changes a day over 10⁸ deals, half a change per deal per day.
CRM_CHANGES_PER_DEAL_PER_DAY = 0.5

COUNTS = """
SELECT (SELECT count(*) FROM risk_scores WHERE tenant_id = $1) AS scores,
       (SELECT count(*) FROM verdicts WHERE tenant_id = $1) AS verdicts,
       (SELECT count(*) FROM alerts WHERE tenant_id = $1) AS alerts
"""
FEED = """
SELECT count(*) AS changes, count(DISTINCT deal_id) AS deals,
       min(source_modified_at) AS first_modified, max(source_modified_at) AS last_modified,
       min(received_at) AS first_received, max(received_at) AS last_received
FROM deal_events WHERE tenant_id = $1 AND outcome = 'applied'
"""
REPS = "SELECT count(DISTINCT snapshot->>'owner_id') FROM deals WHERE tenant_id = $1 AND snapshot ? 'owner_id'"
BY_TYPE = "SELECT alert_type, count(*) AS n FROM alerts WHERE tenant_id = $1 GROUP BY 1 ORDER BY 1"
BY_REP = """
SELECT coalesce(payload->>'owner_id', '') AS owner, count(*) AS n FROM alerts WHERE tenant_id = $1 GROUP BY 1
"""


async def _settled(database: asyncpg.Connection) -> dict[str, int]:
    """Scores, verdicts and alerts once none of them grew for SETTLED_S (bounded by CATCH_UP_S)."""
    deadline, last, last_change = time.monotonic() + CATCH_UP_S, None, time.monotonic()
    while time.monotonic() < deadline:
        counts = dict(await database.fetchrow(COUNTS, ALERTS_TENANT))
        if counts != last:
            last, last_change = counts, time.monotonic()
        elif time.monotonic() - last_change >= SETTLED_S:
            break
        await asyncio.sleep(0.5)
    assert last is not None
    return last


async def _first_score_critical_to_digest(system: BenchSystem) -> None:
    token = issue_token(ServiceSettings().jwt_secret, ALERTS_TENANT, "admin", "bench-admin", 600)
    async with httpx.AsyncClient(base_url=system.supervisor.url("gateway"), timeout=30) as client:
        response = await client.put("/v1/admin/alert-channels", json={"first_score_critical_to_digest": True},
                                    headers={"authorization": f"Bearer {token}"})
        response.raise_for_status()


async def _to_digest(system: BenchSystem) -> int:
    async with httpx.AsyncClient(base_url=system.supervisor.url("alerts"), timeout=30) as client:
        text = (await client.get("/metrics")).text
    return round(sum(sample.value for family in text_string_to_metric_families(text)
                     if family.name == "dealpulse_alerts_to_digest" for sample in family.samples
                     if sample.name.endswith("_total")))


async def measure(system: BenchSystem, secret: str, duration_s: float, rate: float,
                  initial_deals: int) -> dict[str, Any]:
    """Run the demo feed for ``duration_s`` (bounded), let the pipeline catch up, and count the alerts."""
    await _first_score_critical_to_digest(system)
    crm = DemoCrm(system.supervisor.url("ingest"), ALERTS_TENANT, secret)
    fed_s = await feed_for(crm, duration_s, rate, initial_deals)
    database = await asyncpg.connect(system.stack.admin_database_url)
    try:
        counts = await _settled(database)
        feed_row = dict(await database.fetchrow(FEED, ALERTS_TENANT))
        reps = int(await database.fetchval(REPS, ALERTS_TENANT))
        by_type = {row["alert_type"]: row["n"] for row in await database.fetch(BY_TYPE, ALERTS_TENANT)}
        by_rep = {row["owner"]: row["n"] for row in await database.fetch(BY_REP, ALERTS_TENANT)}
    finally:
        await database.close()
    return {"counts": counts, "feed": feed_row, "reps": reps, "by_type": by_type, "by_rep": by_rep,
            "to_digest": await _to_digest(system), "rejected": crm.rejected, "fed_s": fed_s,
            "duration_s": duration_s, "rate": rate, "initial_deals": initial_deals}


def run_alert_volume_bench(report: Path, duration_s: float = 300.0, rate: float = 5.0,
                           initial_deals: int = 400) -> dict[str, Any]:
    secret = uuid.uuid4().hex
    with bench_system(ALERTS_TENANT, secret) as system:
        result = asyncio.run(measure(system, secret, duration_s, rate, initial_deals))
    write_section(report, "alerts", _markdown(result),
                  f"dealpulse bench alerts  # demo feed {duration_s:g} s at {rate:g} changes/s, "
                  f"{initial_deals} initial deals")
    return result


def figures(result: dict[str, Any]) -> dict[str, float]:
    """Alerts per rep over the run, the run's span of CRM time, and the CRM days its changes amount to."""
    feed = result["feed"]
    reps = max(result["reps"], 1)
    alerts = result["counts"]["alerts"]
    crm_span: timedelta = feed["last_modified"] - feed["first_modified"]
    wall_span: timedelta = feed["last_received"] - feed["first_received"]
    crm_days = feed["changes"] / (CRM_CHANGES_PER_DEAL_PER_DAY * max(feed["deals"], 1))
    return {
        "per_rep": alerts / reps,
        "max_per_rep": max(result["by_rep"].values(), default=0),
        "crm_span_days": crm_span.total_seconds() / 86400,
        "wall_span_min": wall_span.total_seconds() / 60,
        "crm_days": crm_days,
        "per_rep_per_crm_day": alerts / reps / max(crm_days, 1e-9),
        "to_digest_per_rep": result["to_digest"] / reps,
        "at_once_per_rep": (alerts - result["to_digest"]) / reps,
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    f = figures(result)
    return [f"alerts: {result['counts']['alerts']} raised for {result['reps']} reps ({f['per_rep']:.1f} per rep in "
            f"the run, one throttle day; {f['per_rep_per_crm_day']:.2f} per rep per day at "
            f"{CRM_CHANGES_PER_DEAL_PER_DAY:g} changes per deal per day); by type {result['by_type']}; "
            f"{result['to_digest']} of them (first-score critical) left to the digest, "
            f"{f['at_once_per_rep']:.1f} per rep delivered at once"]


def _markdown(result: dict[str, Any]) -> str:
    f = figures(result)
    feed, counts = result["feed"], result["counts"]
    alerts = counts["alerts"]
    types = ["entered_critical", "risk_jump", "commit_not_admitted"]
    type_rows = [f"| {t.replace('_', ' ')} | {result['by_type'].get(t, 0):,} | "
                 f"{result['by_type'].get(t, 0) / max(result['reps'], 1):.1f} |" for t in types]
    same_clock = abs(f["crm_span_days"] * 1440 - f["wall_span_min"]) < 1.0
    crm_time = ("The feed stamps every change with the wall clock (its CRM time is the run itself)." if same_clock
                else f"The feed's changes span {f['crm_span_days']:.1f} days of CRM time (their modification "
                     f"times), replayed in {f['wall_span_min']:.1f} minutes.")
    return "\n".join([
        "## Alert volume: the demo feed's alerts per rep",
        "",
        f"The demo CRM feed (`DemoCrm.run(initial_deals={result['initial_deals']}, rate_per_s={result['rate']:g})`) "
        f"ran for {result['fed_s']:.0f} s into the whole system: {feed['changes']:,} changes applied to "
        f"{feed['deals']:,} deals of {result['reps']} reps (owners), {counts['scores']:,} scores, "
        f"{counts['verdicts']:,} verdicts, {result['rejected']} webhooks rejected. The tenant has "
        f"`first_score_critical_to_digest` on, as a newly connected CRM should.",
        "",
        "| alert type | alerts raised | per rep |",
        "| --- | ---: | ---: |",
        *type_rows,
        f"| **all** | **{alerts:,}** | **{f['per_rep']:.1f}** (most for one rep: {f['max_per_rep']}) |",
        "",
        f"Of the entered-critical alerts, {result['to_digest']:,} ({f['to_digest_per_rep']:.1f} per rep) were deals "
        f"already critical on their first score: stored and published, but left to the digest instead of being "
        f"delivered at once; what reaches a rep at once is **{f['at_once_per_rep']:.1f} alerts per rep** in the run.",
        "",
        f"**Per day, honestly.** The alert rules run on the scorer's clock (`scored_at`, wall time): the 24 h "
        f"throttle and the 7-day jump window see the whole run ({f['wall_span_min']:.1f} minutes) as one moment, so "
        f"each deal raises each type at most once here. {crm_time} Read as one day of alerting, the run gives "
        f"**{f['per_rep']:.1f} alerts per rep per day**; but it packs {feed['changes'] / max(feed['deals'], 1):.1f} "
        f"changes per deal into that day, {f['crm_days']:.1f} days of a CRM at DESIGN.md's "
        f"{CRM_CHANGES_PER_DEAL_PER_DAY:g} changes per deal per day, so it is an upper bound. Scaled to that rate "
        f"it is **{f['per_rep_per_crm_day']:.2f} alerts per rep per day** (a lower estimate: spread over real days, "
        f"the throttle would let a deal alert again on a later day).",
    ])
