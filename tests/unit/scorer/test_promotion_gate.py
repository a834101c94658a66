"""The cold-start gate: a tenant model is promoted only when it beat the active global model on the tenant's
holdout, unless an operator forces it (and that is recorded)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dealpulse_cli.main import main
from dealpulse_scorer.model import ModelRegistry
from dealpulse_scorer.promotion import PromotionRefused, promote_version, tenant_gate
from tests.unit.scorer.helpers import TrainedModel, clone_version

TENANT = "acme"


def _tenant_version(trained: TrainedModel, registry: ModelRegistry, version: str, minute: int,
                    comparison: dict[str, Any] | None) -> str:
    clone_version(trained, registry, version, minute, tenant_id=TENANT)
    path = registry.version_dir(version, TENANT) / "metrics.json"
    recorded = json.loads(path.read_text())
    recorded["model"].update({"roc_auc": 0.81, "brier": 0.15})
    recorded["global_on_holdout"] = comparison
    path.write_text(json.dumps(recorded))
    return version


def _comparison(global_version: str, beats: bool) -> dict[str, Any]:
    figures = {"roc_auc": 0.78, "brier": 0.17} if beats else {"roc_auc": 0.84, "brier": 0.14}
    return {"version": global_version, "metrics": figures, "tenant_model_beats_global": beats}


@pytest.fixture
def registry(trained: TrainedModel, fresh_registry: ModelRegistry) -> ModelRegistry:
    fresh_registry.promote(clone_version(trained, fresh_registry, "v-global", minute=1))
    return fresh_registry


def test_a_tenant_model_that_beats_the_active_global_model_is_promoted(
        trained: TrainedModel, registry: ModelRegistry) -> None:
    version = _tenant_version(trained, registry, "v-better", 2, _comparison("v-global", beats=True))
    assert tenant_gate(registry, version, TENANT).allowed
    assert "beats global v-global" in promote_version(registry, version, TENANT)
    assert registry.active_version(TENANT) == version
    assert "beats global v-global" in registry.history(TENANT)[-1]["reason"]


@pytest.mark.parametrize(("comparison", "why"), [
    (_comparison("v-global", beats=False), "does not beat global v-global"),
    (_comparison("v-older-global", beats=True), "v-global is active now"),
    (None, "never compared with v-global"),
])
def test_refused_unless_it_beat_the_active_global_model(
        trained: TrainedModel, registry: ModelRegistry, comparison: dict[str, Any] | None, why: str) -> None:
    version = _tenant_version(trained, registry, "v-candidate", 2, comparison)
    decision = tenant_gate(registry, version, TENANT)
    assert not decision.allowed and why in decision.reason
    with pytest.raises(PromotionRefused, match="--force"):
        promote_version(registry, version, TENANT)
    assert registry.active_version(TENANT) is None


def test_force_overrides_the_gate_and_is_recorded(
        trained: TrainedModel, registry: ModelRegistry, caplog: pytest.LogCaptureFixture) -> None:
    version = _tenant_version(trained, registry, "v-worse", 2, _comparison("v-global", beats=False))
    promote_version(registry, version, TENANT, force=True)
    assert registry.active_version(TENANT) == version
    assert registry.history(TENANT)[-1]["reason"].startswith("forced by the operator")
    assert "FORCED promotion of v-worse for tenant acme" in caplog.text


def test_global_promotions_are_not_gated(trained: TrainedModel, registry: ModelRegistry) -> None:
    promote_version(registry, clone_version(trained, registry, "v-global-2", minute=3))
    assert registry.active_version() == "v-global-2"


def test_cli_refuses_with_exit_code_2_and_says_why(
        trained: TrainedModel, registry: ModelRegistry, capsys: pytest.CaptureFixture[str]) -> None:
    version = _tenant_version(trained, registry, "v-worse", 2, _comparison("v-global", beats=False))
    root = str(Path(registry.root))
    assert main(["promote", version, "--tenant", TENANT, "--registry", root]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and "does not beat global v-global" in err and "roc_auc 0.810 vs 0.840" in err
    assert registry.active_version(TENANT) is None
    assert main(["promote", version, "--tenant", TENANT, "--registry", root, "--force"]) == 0
    assert ModelRegistry(root).active_version(TENANT) == version
    assert main(["promote", "v-missing", "--registry", root]) == 2
