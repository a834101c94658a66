"""A tenant's rule settings: the contract between their one writer (the gateway's ``/v1/admin/settings``) and their
readers (verdict's thresholds, alerts' rules, the gateway's staleness).

Each section lives under its own key of ``tenant_settings.settings`` and counts its own edits
(``tenant_settings.section_versions``), so editing one never changes the version another stamps. A section a
tenant never set is the defaults below. The gateway refuses a section that does not validate; a reader that still
finds one (written by hand) falls back to the defaults and logs it.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dealpulse_common.deal import COMMIT_GATES, QualificationCategory

VERDICT_KEY = "verdict"
ALERT_RULES_KEY = "alert_rules"
STALENESS_KEY = "staleness"


class VerdictThresholds(BaseModel):
    """Every number the verdict rules use: AI forecast thresholds, commit gates and the downgrade depth."""

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


class AlertRuleSettings(BaseModel):
    """When alerts raises one: the risk-jump size and window, and the throttle (one per deal and type)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    throttle_hours: float = Field(24.0, gt=0, le=24 * 30, description="At most one alert per deal and type in this "
                                                                      "window")
    risk_jump_points: int = Field(20, ge=1, le=100, description="A rise of this many points is a risk jump")
    risk_jump_window_days: float = Field(7.0, gt=0, le=90, description="... within this many days")

    @property
    def throttle_window(self) -> timedelta:
        return timedelta(hours=self.throttle_hours)

    @property
    def risk_jump_window(self) -> timedelta:
        return timedelta(days=self.risk_jump_window_days)


class StalenessSettings(BaseModel):
    """When a deal counts as stale: unscored for more than this many days."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stale_after_days: int = Field(14, ge=1, le=365, description="A deal unscored for longer is flagged stale")


# The sections /v1/admin/settings edits, by their tenant_settings key.
SECTIONS: dict[str, type[BaseModel]] = {
    VERDICT_KEY: VerdictThresholds, ALERT_RULES_KEY: AlertRuleSettings, STALENESS_KEY: StalenessSettings}
