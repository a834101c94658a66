"""The registry commands of the runbook's model roll-back: ``dealpulse models``, ``rollback`` and ``promote``."""

from __future__ import annotations

import pytest

from dealpulse_cli.main import main
from dealpulse_scorer.model import ModelRegistry
from tests.unit.scorer.helpers import TrainedModel, clone_version


def test_models_lists_versions_and_rollback_switches_back(trained: TrainedModel, fresh_registry: ModelRegistry,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    root = str(fresh_registry.root)
    first = clone_version(trained, fresh_registry, "v-first", minute=1)
    second = clone_version(trained, fresh_registry, "v-second", minute=2)
    for version in (first, second):
        assert main(["promote", version, "--registry", root]) == 0
    capsys.readouterr()
    assert main(["models", "--registry", root]) == 0
    listing = capsys.readouterr().out
    assert first in listing and second in listing
    [active_line] = [line for line in listing.splitlines() if "active" in line.lower() and second in line]
    assert first not in active_line
    assert main(["rollback", "--registry", root]) == 0
    assert capsys.readouterr().out.strip() == f"active: {first}"
    assert fresh_registry.active_version() == first
