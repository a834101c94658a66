"""The on-disk model registry: promote, rollback, keep-3, tenant fallback, refusal of incompatible artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dealpulse_scorer.features import N_FEATURES
from dealpulse_scorer.model import (
    IncompatibleModel,
    ModelRegistry,
    ModelRegistryError,
    NoActiveModel,
)
from tests.events import AS_OF, make_deal
from tests.unit.scorer.helpers import TrainedModel, clone_version


def test_nothing_active_in_an_empty_registry(fresh_registry: ModelRegistry) -> None:
    assert fresh_registry.active_version() is None
    with pytest.raises(NoActiveModel):
        fresh_registry.load_active("demo")


def test_promote_then_rollback(trained: TrainedModel, fresh_registry: ModelRegistry) -> None:
    first = clone_version(trained, fresh_registry, "v1", minute=1)
    second = clone_version(trained, fresh_registry, "v2", minute=2)
    fresh_registry.promote(first)
    assert fresh_registry.active_version() == first
    fresh_registry.promote(second, reason="better AUC")
    assert fresh_registry.load_active().version == second
    assert fresh_registry.rollback(reason="bad calibration") == first
    assert fresh_registry.active_version() == first
    assert fresh_registry.load_active().version == first
    actions = [(entry["action"], entry["version"]) for entry in fresh_registry.history()]
    assert actions == [("promote", first), ("promote", second), ("rollback", first)]
    with pytest.raises(ModelRegistryError):
        fresh_registry.rollback()  # only one promoted version left on the stack


def test_keeps_the_last_three_promoted_versions(trained: TrainedModel, fresh_registry: ModelRegistry) -> None:
    versions = [clone_version(trained, fresh_registry, f"v{i}", minute=i) for i in range(1, 6)]
    for version in versions:
        fresh_registry.promote(version)
    kept = [info.version for info in fresh_registry.list_versions()]
    assert kept == versions[-3:]
    assert [info.version for info in fresh_registry.list_versions() if info.active] == ["v5"]
    assert fresh_registry.rollback() == "v4"
    assert fresh_registry.rollback() == "v3"
    with pytest.raises(ModelRegistryError):
        fresh_registry.rollback()


def test_prunes_old_candidates_but_never_new_ones(trained: TrainedModel, fresh_registry: ModelRegistry) -> None:
    candidates = [clone_version(trained, fresh_registry, f"v{i}", minute=i) for i in range(1, 6)]
    latest = clone_version(trained, fresh_registry, "v6", minute=6)
    pending = clone_version(trained, fresh_registry, "v7", minute=7)
    fresh_registry.promote(latest)
    kept = {info.version for info in fresh_registry.list_versions()}
    assert kept == {*candidates[-3:], latest, pending}


def test_tenant_model_overrides_global_and_falls_back(trained: TrainedModel, fresh_registry: ModelRegistry) -> None:
    clone_version(trained, fresh_registry, "v-global", minute=1)
    clone_version(trained, fresh_registry, "v-demo", minute=2, tenant_id="demo")
    fresh_registry.promote("v-global")
    assert fresh_registry.load_active("demo").version == "v-global"
    fresh_registry.promote("v-demo", tenant_id="demo")
    loaded = fresh_registry.load_active("demo")
    assert (loaded.version, loaded.tenant_id) == ("v-demo", "demo")
    assert fresh_registry.load_active("other").version == "v-global"
    assert fresh_registry.active_version("other") is None
    fresh_registry.deactivate("demo")
    assert fresh_registry.load_active("demo").version == "v-global"


def test_refuses_an_artifact_with_another_feature_list(trained: TrainedModel, fresh_registry: ModelRegistry) -> None:
    version = clone_version(trained, fresh_registry, "v1", minute=1)
    features_path = fresh_registry.version_dir(version) / "features.json"
    payload = json.loads(features_path.read_text())
    payload["features"] = list(reversed(payload["features"]))
    features_path.write_text(json.dumps(payload))
    with pytest.raises(IncompatibleModel):
        fresh_registry.promote(version)
    assert fresh_registry.active_version() is None


def test_refuses_an_artifact_trained_on_an_older_meaning_of_the_features(trained: TrainedModel,
                                                                        fresh_registry: ModelRegistry) -> None:
    version = clone_version(trained, fresh_registry, "v1", minute=1)
    features_path = fresh_registry.version_dir(version) / "features.json"
    payload = json.loads(features_path.read_text())
    del payload["feature_version"]  # what a model trained before unknown history had its own value looks like
    features_path.write_text(json.dumps(payload))
    with pytest.raises(IncompatibleModel, match="retrain"):
        fresh_registry.promote(version)


def test_rejects_unsafe_names(fresh_registry: ModelRegistry) -> None:
    with pytest.raises(ValueError):
        fresh_registry.scope_dir("../etc")
    with pytest.raises(ValueError):  # not a tenant id (the one rule of dealpulse_common.tenancy)
        fresh_registry.scope_dir("Acme.eu")
    with pytest.raises(ValueError):
        fresh_registry.version_dir("../../x")


def test_loaded_model_predicts_probabilities(trained: TrainedModel) -> None:
    model = trained.model
    x = model.features(make_deal(), AS_OF)
    single = model.predict_win(x)
    assert single.shape == (1,) and 0.0 < single[0] < 1.0
    batch = model.predict_win(np.vstack([x, x, model.reference]))
    assert batch.shape == (3,) and batch[0] == pytest.approx(single[0])
    assert model.predict_win(np.empty((0, N_FEATURES), dtype=np.float32)).shape == (0,)
    with pytest.raises(ValueError):
        model.predict_win(np.zeros((1, N_FEATURES + 1), dtype=np.float32))


def test_pointer_changes_are_seen_without_restart(trained: TrainedModel, tmp_path: Path) -> None:
    writer, reader = ModelRegistry(tmp_path / "r"), ModelRegistry(tmp_path / "r")
    clone_version(trained, writer, "v1", minute=1)
    clone_version(trained, writer, "v2", minute=2)
    writer.promote("v1")
    assert reader.load_active().version == "v1"
    writer.promote("v2")
    assert reader.load_active().version == "v2"


def test_describe_lists_scopes_and_marks_the_active_version(
    trained: TrainedModel, fresh_registry: ModelRegistry
) -> None:
    clone_version(trained, fresh_registry, "v1", minute=1)
    clone_version(trained, fresh_registry, "v2", minute=2)
    clone_version(trained, fresh_registry, "v-demo", minute=3, tenant_id="demo")
    fresh_registry.promote("v1")
    fresh_registry.promote("v2")
    lines = fresh_registry.describe()
    assert lines[0] == "global: active v2"
    assert any(line.startswith("  * v2 ") and "roc_auc" in line for line in lines)
    assert any(line.startswith("  r v1 ") for line in lines)
    assert any(line.startswith("tenant demo: active none") for line in lines)


def test_demo_bootstrap_trains_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dealpulse_scorer.training import train as train_module

    version = train_module.train_and_promote_demo(tmp_path / "registry", tmp_path / "data", n_deals=1500)
    assert ModelRegistry(tmp_path / "registry").active_version() == version
    monkeypatch.setattr(train_module, "train", lambda *a, **k: pytest.fail("must not retrain"))
    assert train_module.train_and_promote_demo(tmp_path / "registry", tmp_path / "data", n_deals=1500) == version


def test_demo_bootstrap_retrains_a_model_of_an_older_feature_meaning(tmp_path: Path) -> None:
    from dealpulse_scorer.training import train as train_module

    registry = ModelRegistry(tmp_path / "registry")
    old = train_module.train_and_promote_demo(registry.root, tmp_path / "data", n_deals=1500)
    features_path = registry.version_dir(old) / "features.json"
    payload = json.loads(features_path.read_text())
    del payload["feature_version"]  # as the registry of an earlier release holds it
    features_path.write_text(json.dumps(payload))
    new = train_module.train_and_promote_demo(registry.root, tmp_path / "data", n_deals=1500)
    assert new != old and registry.active_version() == new
    assert list((tmp_path / "data").glob("demo-deals-v*.csv")), "the data set names its generator version"
