"""Promotion with the cold-start gate: a tenant model serves only once it beats the global model on the tenant's
own holdout (DESIGN.md). Training records that comparison in the version's ``metrics.json``
(``global_on_holdout``: the global version it was compared with, its metrics, ``tenant_model_beats_global``);
the gate reads it and checks it was made against the global model active now.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from dealpulse_scorer.model import ModelRegistry

log = logging.getLogger(__name__)


class PromotionRefused(Exception):
    """The version may not be promoted (the message says why and what to do)."""


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    reason: str


def tenant_gate(registry: ModelRegistry, version: str, tenant_id: str) -> GateDecision:
    """Whether tenant ``tenant_id``'s ``version`` beat the active global model on the tenant's holdout."""
    metrics_path = registry.version_dir(version, tenant_id) / "metrics.json"
    if not metrics_path.is_file():
        return GateDecision(False, f"version {version} of tenant {tenant_id} has no metrics.json")
    recorded: dict[str, Any] = json.loads(metrics_path.read_text())
    comparison = recorded.get("global_on_holdout")
    active_global = registry.active_version(None)
    if active_global is None:
        return GateDecision(True, "no global model is active, so there is nothing to beat")
    if not comparison:
        return GateDecision(False, f"{version} was trained when no global model was active, so it was never "
                                   f"compared with {active_global}; retrain it")
    if comparison.get("version") != active_global:
        return GateDecision(False, f"{version} was compared with global {comparison.get('version')}, but "
                                   f"{active_global} is active now; retrain it to compare with the active model")
    figures = _figures(recorded.get("model", {}), comparison.get("metrics", {}))
    if not comparison.get("tenant_model_beats_global"):
        return GateDecision(False, f"{version} does not beat global {active_global} on tenant {tenant_id}'s holdout "
                                   f"(it must have a higher ROC-AUC and a lower Brier score: {figures})")
    return GateDecision(True, f"beats global {active_global} on tenant {tenant_id}'s holdout ({figures})")


def promote_version(registry: ModelRegistry, version: str, tenant_id: str | None = None, *,
                    force: bool = False) -> str:
    """Promote ``version``; a tenant version must pass ``tenant_gate`` unless ``force``, which is logged and
    recorded in the scope's promotion history. Returns a line for the operator."""
    if not registry.version_exists(version, tenant_id):
        scope = "global" if tenant_id is None else f"tenant {tenant_id}"
        raise PromotionRefused(f"no version {version} in the {scope} scope of {registry.root}")
    reason = ""
    if tenant_id is not None:
        decision = tenant_gate(registry, version, tenant_id)
        if not decision.allowed and not force:
            raise PromotionRefused(f"{decision.reason}. Use --force to promote it anyway (the override is logged).")
        if not decision.allowed:
            reason = f"forced by the operator over the tenant gate: {decision.reason}"
            log.warning("FORCED promotion of %s for tenant %s: %s", version, tenant_id, decision.reason)
        else:
            reason = decision.reason
    registry.promote(version, tenant_id, reason=reason)
    where = "" if tenant_id is None else f" for tenant {tenant_id}"
    return f"active{where}: {version}" + (f" ({reason})" if reason else "")


def _figures(model: dict[str, Any], global_metrics: dict[str, Any]) -> str:
    def pair(name: str) -> str:
        mine, theirs = model.get(name), global_metrics.get(name)
        if not isinstance(mine, int | float) or not isinstance(theirs, int | float):
            return f"{name} unknown"
        return f"{name} {mine:.3f} vs {theirs:.3f}"

    return f"{pair('roc_auc')}, {pair('brier')}"
