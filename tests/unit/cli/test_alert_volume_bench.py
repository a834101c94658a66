"""The alert-volume bench's figures: per rep, per day of the run and per day at a real CRM's change rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dealpulse_cli.bench.alert_volume import CRM_CHANGES_PER_DEAL_PER_DAY, _markdown, figures
from dealpulse_cli.main import build_parser

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _result(**overrides: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "counts": {"scores": 1000, "verdicts": 1000, "alerts": 40},
        "feed": {"changes": 1000, "deals": 100, "first_modified": START, "last_modified": START + timedelta(minutes=5),
                 "first_received": START, "last_received": START + timedelta(minutes=5)},
        "reps": 8, "by_type": {"entered_critical": 30, "risk_jump": 6, "commit_not_admitted": 4},
        "by_rep": {"rep-1": 12, "rep-2": 3}, "to_digest": 24, "rejected": 0, "fed_s": 300.0, "duration_s": 300.0,
        "rate": 5.0, "initial_deals": 400,
    }
    result.update(overrides)
    return result


def test_alerts_per_rep_and_per_crm_day() -> None:
    f = figures(_result())
    assert f["per_rep"] == 5.0 and f["max_per_rep"] == 12
    assert f["at_once_per_rep"] == (40 - 24) / 8
    # 1,000 changes over 100 deals are 20 days of a CRM at half a change per deal per day.
    assert CRM_CHANGES_PER_DEAL_PER_DAY == 0.5 and f["crm_days"] == pytest.approx(20.0)
    assert f["per_rep_per_crm_day"] == pytest.approx(5.0 / 20.0)


def test_the_report_says_which_clock_the_feed_ran_on() -> None:
    same = _markdown(_result())
    assert "stamps every change with the wall clock" in same and "**5.0 alerts per rep per day**" in same
    replayed = _result()
    replayed["feed"] = {**replayed["feed"], "first_modified": START - timedelta(days=90)}
    assert "span 90.0 days of CRM time" in _markdown(replayed)


def test_the_command_is_dealpulse_bench_alerts() -> None:
    assert build_parser().parse_args(["bench", "alerts"]).which == "alerts"
