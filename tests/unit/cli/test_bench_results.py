"""docs/benchmarks.json and ``dealpulse bench compare``: figures recorded per section, compared with the file as a
git revision holds it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from dealpulse_cli.bench import results
from dealpulse_cli.main import main


def test_flatten_keeps_every_finite_number_under_its_dotted_path() -> None:
    found = {"p50": 1.5, "hops": {"scorer": {"p99": 7}}, "lost": 0, "nan": float("nan"), "ok": True,
             "samples": [1, 2, 3], "name": "x"}
    assert results.flatten(found) == {"p50": 1.5, "hops.scorer.p99": 7.0, "lost": 0.0}
    assert results.flatten({"a": 1, "samples": {"b": 2}}, skip=("samples",)) == {"a": 1.0}


def test_compare_prints_each_figures_ratio_to_the_committed_file(tmp_path: Path, capsys: object) -> None:
    report = tmp_path / "BENCHMARKS.md"
    path = tmp_path / results.JSON_NAME
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    results.record(path, "latency", {"end_to_end_p99_ms": 80.0, "lost": 0.0}, seconds=61)
    results.record(path, "gone", {"x": 1.0}, seconds=1)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, "add", results.JSON_NAME], check=True)
    subprocess.run([*git, "commit", "-qm", "figures"], check=True)

    results.record(path, "latency", {"end_to_end_p99_ms": 120.0, "lost": 0.0}, seconds=60)
    stored = json.loads(path.read_text())
    assert stored["latency"]["figures"] == {"end_to_end_p99_ms": 120.0, "lost": 0.0}
    assert stored["gone"]["figures"] == {"x": 1.0}, "recording one section keeps the others"

    lines = results.compare(path)
    assert "  end_to_end_p99_ms: 120 vs 80 — × 1.50" in lines
    assert main(["bench", "compare", "--report", str(report)]) == 0
    assert "× 1.50" in capsys.readouterr().out  # type: ignore[attr-defined]


def test_compare_says_so_when_there_is_nothing_to_compare(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert results.compare(tmp_path / results.JSON_NAME) == [
        f"nothing to compare: {tmp_path / results.JSON_NAME} and its HEAD version share no section"]


def test_a_profile_sums_collapsed_stacks_into_packages_leaves_and_our_frames() -> None:
    from dealpulse_cli.bench.profile import summarize

    site = "/v/lib/python3.11/site-packages"
    collapsed = "\n".join([
        f"serve (/w/services/scorer/dealpulse_scorer/app.py:10);execute ({site}/asyncpg/connection.py:5) 3",
        f"serve (/w/services/scorer/dealpulse_scorer/app.py:10);predict_win (/w/dealpulse_scorer/model.py:9);"
        f"run ({site}/onnxruntime/session.py:2) 1",
        "select (/usr/lib/python3.11/asyncio/base_events.py:1) 4",
    ])
    found = summarize("scorer", collapsed)
    assert found.samples == 8
    assert dict(found.packages) == {"asyncio": 0.5, "asyncpg": 0.375, "onnxruntime": 0.125}
    assert dict(found.ours) == {"(outside our code)": 0.5, "serve (app.py)": 0.375, "predict_win (model.py)": 0.125}
    assert found.on_cpu[0] == ("select (base_events.py)", 0.5)
