"""Which model serves which tenant right now: a snapshot taken from the registry and swapped whole.

The stream scores each batch with the snapshot it started with, so a batch is never split across two models; a
new snapshot is adopted between batches (see ``rescore.Rescorer``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from dealpulse_common import metrics
from dealpulse_scorer.model import LoadedModel, ModelRegistry, NoActiveModel

log = logging.getLogger(__name__)

Versions = dict[str | None, str]  # scope (None = global, else the tenant id) -> active version


@dataclass(frozen=True)
class ServingModels:
    global_model: LoadedModel
    tenant_models: Mapping[str, LoadedModel] = field(default_factory=dict)

    def for_tenant(self, tenant_id: str) -> LoadedModel:
        """The tenant's own model if it has a usable one, else the global model (cold start)."""
        return self.tenant_models.get(tenant_id, self.global_model)

    def versions(self) -> Versions:
        return {None: self.global_model.version, **{t: m.version for t, m in self.tenant_models.items()}}

    def all_models(self) -> list[LoadedModel]:
        return [self.global_model, *self.tenant_models.values()]


class ServingResolver:
    """Reads the registry's active pointers (cached by file stamp, so a poll is a few ``stat`` calls) and loads
    what they name when they change. Blocking: call it from a worker thread."""

    def __init__(self, registry: ModelRegistry) -> None:
        self._registry = registry
        self._seen: Versions | None = None

    def pointers(self) -> Versions:
        registry = self._registry
        found: Versions = {}
        global_version = registry.active_version(None)
        if global_version is not None:
            found[None] = global_version
        for tenant_id in registry.list_tenants():
            version = registry.active_version(tenant_id)
            if version is not None:
                found[tenant_id] = version
        return found

    def resolve(self, current: ServingModels | None = None) -> ServingModels | None:
        """The models the pointers name, or None when no pointer moved since the last call or the move changes
        nothing that serves. A version that cannot be loaded is not served: its tenant falls back to the global
        model, and an unusable global version leaves the current global model serving (both logged)."""
        pointers = self.pointers()
        if current is not None and pointers == self._seen:
            return None
        self._seen = pointers
        global_model = self._load(None, pointers.get(None))
        if global_model is None:
            if current is None:
                raise NoActiveModel(f"no usable active global model in {self._registry.root}")
            global_model = current.global_model
        tenants = {tenant_id: model for tenant_id, version in pointers.items() if tenant_id is not None
                   if (model := self._load(tenant_id, version)) is not None}
        resolved = ServingModels(global_model, tenants)
        if current is not None and resolved.versions() == current.versions():
            return None
        self._registry.evict(resolved.all_models())  # a long-running scorer must not keep every version it served
        return resolved

    def _load(self, tenant_id: str | None, version: str | None) -> LoadedModel | None:
        if version is None:
            return None
        try:
            return self._registry.load(version, tenant_id)
        except Exception as error:  # a missing folder, bad JSON, a corrupt ONNX file: whatever it is, do not serve it
            scope = "global" if tenant_id is None else f"tenant {tenant_id}"
            log.error("model %s of %s is unusable; not serving it: %s", version, scope, error)
            return None


def export_model_info(previous: ServingModels | None, current: ServingModels) -> None:
    """``dealpulse_model_active{scope, version} 1`` for each serving model, and no series for what stopped."""
    now = {(model.scope, model.version) for model in current.all_models()}
    before = {(model.scope, model.version) for model in previous.all_models()} if previous else set()
    for scope, version in before - now:
        metrics.MODEL_INFO.remove(scope, version)
    for scope, version in now:
        metrics.MODEL_INFO.labels(scope, version).set(1)
