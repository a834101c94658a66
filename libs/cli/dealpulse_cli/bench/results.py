"""docs/benchmarks.json: each section's figures from its latest run, and ``dealpulse bench compare``, which prints
each figure's ratio to the same file as committed (or as of another revision), so a slower change is seen before it
lands."""

from __future__ import annotations

import json
import math
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dealpulse_cli.bench.report import machine

JSON_NAME = "benchmarks.json"


def flatten(found: Any, prefix: str = "", skip: tuple[str, ...] = ()) -> dict[str, float]:
    """Every finite number in a nested result, keyed by its dotted path (lists of samples are left out)."""
    figures: dict[str, float] = {}
    if isinstance(found, dict):
        for key, value in found.items():
            if str(key) not in skip:
                figures.update(flatten(value, f"{prefix}{key}.", skip))
    elif isinstance(found, bool):
        pass
    elif isinstance(found, int | float) and math.isfinite(found):
        figures[prefix.rstrip(".")] = float(found)
    return figures


def record(path: Path, section: str, figures: dict[str, float], seconds: float) -> None:
    stored: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    stored[section] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
                       "seconds": round(seconds, 1), "figures": {k: round(v, 4) for k, v in sorted(figures.items())}}
    path.write_text(json.dumps(dict(sorted(stored.items())), indent=2) + "\n")


def committed(path: Path, revision: str) -> dict[str, Any]:
    """The file as of ``revision`` (git), or empty when it did not exist there."""
    shown = subprocess.run(["git", "show", f"{revision}:./{path.name}"], cwd=path.parent, capture_output=True,
                           text=True, check=False)
    return json.loads(shown.stdout) if shown.returncode == 0 else {}


def compare(path: Path, revision: str = "HEAD") -> list[str]:
    """One line per figure present in both: now, then, and now / then."""
    now = json.loads(path.read_text()) if path.exists() else {}
    then = committed(path, revision)
    lines = []
    for section in sorted(set(now) & set(then)):
        new, old = now[section]["figures"], then[section]["figures"]
        lines.append(f"{section} (now {now[section]['date']}, then {then[section]['date']}):")
        for name in sorted(set(new) & set(old)):
            ratio = new[name] / old[name] if old[name] else float("nan")
            lines.append(f"  {name}: {new[name]:g} vs {old[name]:g} — × {ratio:.2f}")
    if not lines:
        lines.append(f"nothing to compare: {path} and its {revision} version share no section")
    return lines
