"""The dashboard with 10,000 open deals: how long from navigation until the pipeline header and the first page of
the deal table are on screen, in Debian's headless Chromium on loopback.

The deals arrive the way a history load does (the bulk-import benchmark's CSV through ``POST /v1/imports``, until
every one is scored and judged); then the page is opened several times, each in a fresh browser context (empty
cache: the first visit of the day). The page marks its own milestones with the User Timing API
(``dealpulse:pipeline``, ``dealpulse:first-page``, ``dealpulse:charts``, milliseconds since navigation start);
the wall-clock figure is Playwright's, from ``goto`` until both of the first two exist.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright

from dealpulse_cli.bench import bulk_import
from dealpulse_cli.bench.browser import launch_chromium
from dealpulse_cli.bench.harness import BenchSystem, bench_system
from dealpulse_cli.bench.report import write_section
from dealpulse_common.auth import issue_token
from dealpulse_common.settings import ServiceSettings

MILESTONES = ("dealpulse:pipeline", "dealpulse:first-page", "dealpulse:charts")
USABLE = MILESTONES[:2]
LOADS = 7
LOAD_TIMEOUT_MS = 120_000  # a failed load is reported as such; a slow one is measured
TARGET_S = 2.0
API_CALLS = ("/v1/pipeline/metrics", "/v1/deals?limit=50&sort_by=risk_score&order=desc", "/v1/reps")


@dataclass
class DashboardLoadResult:
    deals: int
    scored_s: float = float("nan")
    usable_ms: list[float] = field(default_factory=list)   # wall clock: goto → header and first page shown
    marks_ms: dict[str, list[float]] = field(default_factory=dict)
    api_ms: dict[str, list[float]] = field(default_factory=dict)
    rows_shown: int = 0
    total_shown: str = ""
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)   # the machine's, as the page loads ended


async def measure(system: BenchSystem, deals: int, data: Path, loads: int = LOADS) -> DashboardLoadResult:
    result = DashboardLoadResult(deals=deals)
    imported = await bulk_import.measure(system, deals, data)
    if imported.stalled:
        raise RuntimeError(f"scoring stalled at {imported.scored}/{imported.accepted} deals")
    result.scored_s = imported.all_scored_s
    token = issue_token(ServiceSettings().jwt_secret, bulk_import.BENCH_TENANT, "admin", "bench", 7200)
    url = system.supervisor.url("gateway")
    await _time_api(url, token, result)
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            for _ in range(loads):
                context = await browser.new_context(viewport={"width": 1440, "height": 900})
                try:
                    await _load_once(await context.new_page(), f"{url}/#token={token}", result)
                finally:
                    await context.close()
        finally:
            await browser.close()
    result.load_average = os.getloadavg()
    return result


async def _time_api(url: str, token: str, result: DashboardLoadResult, rounds: int = 20) -> None:
    """Each REST call the page makes first, as the server answers it (loopback, sequential)."""
    async with httpx.AsyncClient(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        for path in API_CALLS:
            timings = result.api_ms.setdefault(path, [])
            for _ in range(rounds):
                started = time.perf_counter()
                (await client.get(path)).raise_for_status()
                timings.append((time.perf_counter() - started) * 1000)


async def _load_once(page: Page, address: str, result: DashboardLoadResult) -> None:
    started = time.perf_counter()
    await page.goto(address)
    await page.wait_for_function(
        "names => names.every(n => performance.getEntriesByName(n).length)", arg=list(USABLE),
        timeout=LOAD_TIMEOUT_MS)
    result.usable_ms.append((time.perf_counter() - started) * 1000)
    await page.wait_for_function("n => performance.getEntriesByName(n).length", arg=MILESTONES[2],
                                 timeout=LOAD_TIMEOUT_MS)
    marks = await page.evaluate(
        "names => Object.fromEntries(names.map(n => [n, performance.getEntriesByName(n)[0].startTime]))",
        list(MILESTONES))
    for name, at in marks.items():
        result.marks_ms.setdefault(name, []).append(float(at))
    result.rows_shown = await page.locator("#deal-rows tr").count()
    result.total_shown = await page.locator("#kpi-pipeline .kpi-count").inner_text()


def run_dashboard_bench(deals: int, report: Path) -> DashboardLoadResult:
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "deals.csv"
        bulk_import.write_csv(data, deals)
        with bench_system(bulk_import.BENCH_TENANT, uuid.uuid4().hex) as system:
            result = asyncio.run(measure(system, deals, data))
    write_section(report, "dashboard", _markdown(result), f"dealpulse bench dashboard --deals {deals}")
    return result


def summary(result: DashboardLoadResult) -> str:
    return (f"dashboard: {result.deals:,} open deals, header and first page shown after "
            f"median {statistics.median(result.usable_ms) / 1000:.2f} s (max {max(result.usable_ms) / 1000:.2f} s)")


def _stats(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} | {max(values):.0f}"


def _markdown(result: DashboardLoadResult) -> str:
    median_s = statistics.median(result.usable_ms) / 1000
    verdict = "within" if median_s < TARGET_S and max(result.usable_ms) / 1000 < TARGET_S else "**over**"
    return "\n".join([
        f"## Dashboard: {result.deals:,} open deals, navigation → header and first table page",
        "",
        f"{result.deals:,} deals imported through `POST /v1/imports` and all scored ({result.scored_s:.0f} s), then "
        f"the dashboard opened {len(result.usable_ms)} times in Debian's headless Chromium (1440×900), each in a "
        "fresh browser context (empty cache), as an admin who sees the whole tenant. Usable = the pipeline header "
        f"and the first page of the deal table ({result.rows_shown} rows, header: {result.total_shown}) are drawn. "
        f"Target (DESIGN.md): < {TARGET_S:g} s — {verdict} it: median **{median_s:.2f} s**. Load average of the "
        f"machine (2 cores) as the loads ended: {' / '.join(f'{v:.1f}' for v in result.load_average)} (1 / 5 / 15 "
        "min): other work on the box slows every figure here.",
        "",
        "| milestone (ms since navigation start) | median | max |",
        "| --- | ---: | ---: |",
        f"| usable, as Playwright saw it (goto → both drawn) | {_stats(result.usable_ms)} |",
        *(f"| `{name}` (User Timing mark) | {_stats(values)} |" for name, values in result.marks_ms.items()),
        "",
        "The REST calls behind it, answered on loopback (20 sequential calls each):",
        "",
        "| call | median ms | max ms |",
        "| --- | ---: | ---: |",
        *(f"| `GET {path}` | {_stats(values)} |" for path, values in result.api_ms.items()),
    ])


def figures(result: DashboardLoadResult) -> dict[str, float]:
    found = {"usable_median_ms": statistics.median(result.usable_ms), "usable_max_ms": max(result.usable_ms),
             "all_scored_s": result.scored_s}
    found.update({f"{name}.median_ms": statistics.median(v) for name, v in result.marks_ms.items() if v})
    found.update({f"api {path}.median_ms": statistics.median(v) for path, v in result.api_ms.items() if v})
    return found
