"""A tenant's alert rules as alerts applies them, and the service's defaults for tenants that set none."""

from __future__ import annotations

from datetime import timedelta

from dealpulse_alerts.handlers import AlertRules
from dealpulse_alerts.settings import AlertsSettings
from dealpulse_common.tenant_rules import AlertRuleSettings


def test_a_tenants_settings_become_the_rules_in_force() -> None:
    rules = AlertRules.of(AlertRuleSettings(throttle_hours=2, risk_jump_points=5, risk_jump_window_days=1.5))
    assert rules == AlertRules(risk_jump_points=5, risk_jump_window=timedelta(days=1.5),
                               throttle_window=timedelta(hours=2))


def test_the_service_defaults_are_the_settings_defaults() -> None:
    # What GET /v1/admin/settings shows for a tenant without rules is what alerts applies to it.
    assert AlertsSettings().alert_rules() == AlertRules.of(AlertRuleSettings()) == AlertRules()
