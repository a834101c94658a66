"""The serving path must never load scikit-learn (or the ONNX converter)."""

from __future__ import annotations

import subprocess
import sys

SERVING_MODULES = (
    "dealpulse_scorer.features",
    "dealpulse_scorer.model",
    "dealpulse_scorer.explain",
    "dealpulse_scorer.drift",
    "dealpulse_scorer.training.synthetic",
    "dealpulse_scorer.training.life",
    "dealpulse_scorer.training.feed",  # the demo CRM replays its deliveries
)


def test_serving_modules_do_not_import_sklearn() -> None:
    imports = "; ".join(f"import {module}" for module in SERVING_MODULES)
    check = "import sys; bad = [m for m in ('sklearn', 'skl2onnx', 'scipy') if m in sys.modules]; assert not bad, bad"
    result = subprocess.run([sys.executable, "-c", f"{imports}; {check}"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
