"""Why a score changed when the model changed: like is compared with like, and the model update is named."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from dealpulse_common.deal import DealHistory
from dealpulse_scorer import explain
from dealpulse_scorer.handlers import MODEL_CHANGE_FIELD, Previous, ScoreInput, score_deals
from dealpulse_scorer.model import LoadedModel, ModelRegistry
from dealpulse_scorer.rescore import rescore_event_id
from dealpulse_scorer.serving import ServingResolver
from tests.events import AS_OF, make_deal
from tests.unit.scorer.helpers import TrainedModel, clone_version


@pytest.fixture
def models(trained: TrainedModel, fresh_registry: ModelRegistry) -> tuple[LoadedModel, LoadedModel]:
    """The trained model, and a second version whose segment priors differ (as a retrained model's would)."""
    old = clone_version(trained, fresh_registry, "v-old", minute=1)
    new = clone_version(trained, fresh_registry, "v-new", minute=2)
    priors_path = fresh_registry.version_dir(new) / "priors.json"
    priors = json.loads(priors_path.read_text())
    priors["global_rate"] = 0.6
    for rates in priors["rates"].values():
        for key in rates:
            rates[key] = min(0.95, rates[key] + 0.3)
    priors_path.write_text(json.dumps(priors))
    return fresh_registry.load(old), fresh_registry.load(new)


def _previous_by(model: LoadedModel, deal_kwargs: dict[str, object]) -> tuple[Previous, int]:
    deal = make_deal(**deal_kwargs)
    [scored] = score_deals(model, [ScoreInput(deal, AS_OF, "e1")], AS_OF)
    previous = Previous(scored.data.risk_score, scored.data.risk_category.value, scored.features, AS_OF,
                        model_version=model.version, deal=deal, as_of=AS_OF)
    return previous, scored.data.risk_score


def test_a_rescore_names_the_model_change_and_invents_no_feature_change(
        models: tuple[LoadedModel, LoadedModel]) -> None:
    old, new = models
    previous, old_risk = _previous_by(old, {})
    [rescored] = score_deals(new, [ScoreInput(previous.deal, AS_OF, "r1", previous)], AS_OF)  # type: ignore[arg-type]
    since = rescored.data.since_previous
    assert since is not None and since.delta == rescored.data.risk_score - old_risk
    assert [c.field for c in since.changes] == [MODEL_CHANGE_FIELD]
    assert since.changes[0].delta == since.delta
    assert since.changes[0].description.startswith("model updated to v-new")
    # Comparing the stored vector (old priors) with the new one would have invented segment changes:
    naive = explain.why_changed(new, previous.features, rescored.features)  # type: ignore[arg-type]
    assert naive and all(c.field.startswith("prior_") or c.field == "other" for c in naive)


def test_a_real_change_scored_by_a_new_model_separates_the_two(models: tuple[LoadedModel, LoadedModel]) -> None:
    old, new = models
    previous, old_risk = _previous_by(old, {})
    later = AS_OF + timedelta(days=1)
    pushed = make_deal(history=DealHistory(stage_entered_at=AS_OF - timedelta(days=12), close_date_push_count=4,
                                           activity_count_30d=6, days_since_last_activity=3.0),
                       source_modified_at=later)
    [scored] = score_deals(new, [ScoreInput(pushed, later, "e2", previous)], later)
    since = scored.data.since_previous
    assert since is not None
    fields = [c.field for c in since.changes]
    assert fields[0] == MODEL_CHANGE_FIELD and "close_date_push_count" in fields
    assert not any(f.startswith("prior_") for f in fields)
    assert sum(c.delta for c in since.changes) == since.delta == scored.data.risk_score - old_risk


def test_same_model_keeps_the_stored_vector_and_adds_no_model_line(models: tuple[LoadedModel, LoadedModel]) -> None:
    old, _ = models
    previous, _ = _previous_by(old, {})
    [again] = score_deals(old, [ScoreInput(previous.deal, AS_OF, "e3", previous)], AS_OF)  # type: ignore[arg-type]
    assert again.data.since_previous is not None and again.data.since_previous.changes == []


def test_rescore_ids_are_deterministic_and_bounded() -> None:
    first = rescore_event_id("v2", "D-1", "crm-evt-9")
    assert first == "rescore:v2:D-1:crm-evt-9" == rescore_event_id("v2", "D-1", "crm-evt-9")
    chained = first
    for version in ("v1", "v2", "v1", "v2", "v1"):
        chained = rescore_event_id(version, "D-1", chained)
        assert len(chained) < 80
    assert rescore_event_id("v1", "D-1", first) != rescore_event_id("v1", "D-1", rescore_event_id("v1", "D-1", first))


def test_resolver_sees_promotions_and_falls_back_from_an_unusable_tenant_model(
        trained: TrainedModel, fresh_registry: ModelRegistry) -> None:
    fresh_registry.promote(clone_version(trained, fresh_registry, "v1", minute=1))
    resolver = ServingResolver(fresh_registry)
    serving = resolver.resolve()
    assert serving is not None and serving.versions() == {None: "v1"}
    assert resolver.resolve(serving) is None, "nothing moved"
    fresh_registry.promote(clone_version(trained, fresh_registry, "v2", minute=2))
    fresh_registry.promote(clone_version(trained, fresh_registry, "v7", minute=3, tenant_id="acme"), "acme")
    moved = resolver.resolve(serving)
    assert moved is not None and moved.versions() == {None: "v2", "acme": "v7"}
    assert moved.for_tenant("acme").version == "v7" and moved.for_tenant("other").version == "v2"
    (fresh_registry.version_dir("v7", "acme") / "model.onnx").write_bytes(b"broken")
    fresh_registry.evict([])  # as after a restart: the broken file must be read again
    fresh_registry.promote(clone_version(trained, fresh_registry, "v3", minute=4))
    again = resolver.resolve(moved)
    assert again is not None and again.versions() == {None: "v3"}, "a broken tenant model falls back to global"
