"""Verdict thresholds: the defaults, a tenant's overrides, and the version stamped on every verdict.

The numbers live here once (the reviewed system kept 24/18 as literals in four places and could not say which
thresholds produced a verdict). A tenant overrides any of them under the ``verdict`` key of
``tenant_settings.settings``; the verdict records which settings were in force as ``thresholds_version``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dealpulse_common.deal import COMMIT_GATES, QualificationCategory

log = logging.getLogger(__name__)

# Bump whenever a default below changes, so verdicts decided under the old defaults stay distinguishable.
DEFAULTS_VERSION = 1


class VerdictThresholds(BaseModel):
    """Every number the verdict rules use; each field can be overridden per tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    commit_health_score: int = Field(24, ge=0, le=30, description="Health score at or above which AI says Commit")
    best_case_health_score: int = Field(18, ge=0, le=30, description="... at or above which AI says Best Case")
    commit_win_probability: float = Field(0.75, ge=0.0, le=1.0, description="Without qualification: Commit from")
    best_case_win_probability: float = Field(0.50, ge=0.0, le=1.0, description="Without qualification: Best Case")
    gate_categories: tuple[QualificationCategory, ...] = Field(COMMIT_GATES, min_length=1)
    gate_min_score: int = Field(2, ge=1, le=3, description="Qualification score a gate needs to count")
    gates_required: int = Field(2, ge=1, description="Supported gates needed to admit a Commit")
    downgrade_levels: int = Field(1, ge=0, le=2, description="Levels the AI verdict drops when not admitted")

    @model_validator(mode="after")
    def _consistent(self) -> VerdictThresholds:
        if self.best_case_health_score > self.commit_health_score:
            raise ValueError("best_case_health_score must not exceed commit_health_score")
        if self.best_case_win_probability > self.commit_win_probability:
            raise ValueError("best_case_win_probability must not exceed commit_win_probability")
        if len(set(self.gate_categories)) != len(self.gate_categories):
            raise ValueError("gate_categories must not repeat a category")
        if self.gates_required > len(self.gate_categories):
            raise ValueError("gates_required cannot exceed the number of gate categories")
        return self


@dataclass(frozen=True)
class StampedThresholds:
    thresholds: VerdictThresholds
    version: str


DEFAULT_THRESHOLDS = StampedThresholds(VerdictThresholds(), f"default-{DEFAULTS_VERSION}")


def stamp_tenant_thresholds(tenant_id: str, overrides: Any, settings_version: int | None) -> StampedThresholds:
    """The thresholds in force for a tenant, from its ``verdict`` settings (None when it has none).

    Settings that do not validate fall back to the defaults, stamped as such, rather than stopping the stream:
    the gateway, which writes tenant settings, is where a bad value should be refused.
    """
    if settings_version is None or not overrides:
        return DEFAULT_THRESHOLDS
    try:
        thresholds = VerdictThresholds.model_validate(overrides)
    except ValidationError as exc:
        log.error("tenant %s has invalid verdict settings (version %s); using the defaults: %s",
                  tenant_id, settings_version, exc.errors(include_url=False))
        return DEFAULT_THRESHOLDS
    return StampedThresholds(thresholds, f"tenant-{settings_version}")
