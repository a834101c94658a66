"""Each tenant's alert rules (risk-jump size and window, throttle window), read from ``tenant_settings`` and reused
for a few seconds, so an admin's edit applies without a restart. A tenant without its own rules gets the service's
defaults (``ALERTS_RISK_JUMP_POINTS`` ...); rules that do not validate (the gateway refuses those, so only a hand
edit) fall back to the defaults, logged."""

from __future__ import annotations

import logging

import asyncpg
from pydantic import ValidationError

from dealpulse_alerts import store
from dealpulse_alerts.handlers import AlertRules
from dealpulse_common.tenant_cache import TenantCache
from dealpulse_common.tenant_rules import AlertRuleSettings

log = logging.getLogger(__name__)

TenantAlertRules = TenantCache[AlertRules]


def tenant_alert_rules(pool: asyncpg.Pool, defaults: AlertRules, ttl_s: float) -> TenantAlertRules:
    async def load(conn: asyncpg.Connection, tenant_id: str) -> AlertRules:
        stored = await store.alert_rule_settings(conn, tenant_id)
        if not stored:
            return defaults
        try:
            return AlertRules.of(AlertRuleSettings.model_validate(stored))
        except ValidationError as exc:
            log.error("tenant %s has invalid alert rules; using the defaults: %s", tenant_id,
                      exc.errors(include_url=False))
            return defaults

    return TenantCache(ttl_s, load, pool=pool)
