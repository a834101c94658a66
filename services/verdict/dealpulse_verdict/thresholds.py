"""Verdict thresholds: the defaults, a tenant's overrides, and the version stamped on every verdict.

The numbers live once, in ``dealpulse_common.tenant_rules`` (the gateway validates a tenant's edit against the same
model). A tenant overrides any of them under the ``verdict`` key of ``tenant_settings.settings``; the verdict
records which settings were in force as ``thresholds_version``: that section's own version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from dealpulse_common.tenant_rules import VerdictThresholds

log = logging.getLogger(__name__)

# Bump whenever a default of VerdictThresholds changes, so verdicts decided under the old defaults stay distinguishable.
DEFAULTS_VERSION = 1


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
