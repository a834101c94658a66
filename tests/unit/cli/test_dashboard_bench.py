"""The dashboard bench's report: the usable time against the 2 s target, every milestone and API call."""

from __future__ import annotations

from dealpulse_cli.bench.dashboard_load import DashboardLoadResult, _markdown
from dealpulse_cli.main import build_parser


def _result(usable_ms: list[float]) -> DashboardLoadResult:
    return DashboardLoadResult(
        deals=10_000, scored_s=14.0, usable_ms=usable_ms,
        marks_ms={"dealpulse:pipeline": [300.0, 320.0], "dealpulse:first-page": [280.0, 290.0],
                  "dealpulse:charts": [600.0, 640.0]},
        api_ms={"/v1/pipeline/metrics": [20.0, 25.0]}, rows_shown=50, total_shown="10,000 deals")


def test_the_report_says_whether_the_page_was_usable_within_two_seconds() -> None:
    fast = _markdown(_result([400.0, 450.0, 1_200.0]))
    assert "within it: median **0.45 s**" in fast
    assert "| `dealpulse:charts` (User Timing mark) | 620 | 640 |" in fast
    assert "| `GET /v1/pipeline/metrics` | 22 | 25 |" in fast
    assert "**over** it" in _markdown(_result([400.0, 450.0, 2_500.0])), "one slow load is over the target"


def test_the_command_is_dealpulse_bench_dashboard() -> None:
    args = build_parser().parse_args(["bench", "dashboard", "--deals", "10000"])
    assert (args.which, args.deals) == ("dashboard", 10_000)
