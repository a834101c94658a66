"""A tenant's rule settings as the gateway reads and edits them: verdict thresholds, alert rules and staleness
(``dealpulse_common.tenant_rules``), each a section of ``tenant_settings`` with its own version.

The gateway applies the staleness section itself (every read that says "stale" asks ``stale_after``); verdict and
alerts read their sections through caches of a few seconds, so an edit applies without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
from pydantic import BaseModel

from dealpulse_common.tenant_rules import SECTIONS, STALENESS_KEY, StalenessSettings
from dealpulse_gateway import store
from dealpulse_gateway.settings import GatewaySettings

AUDIT_ACTION = "settings.update"


async def stale_after(conn: asyncpg.Connection, tenant_id: str, settings: GatewaySettings) -> timedelta:
    """How long a deal may go unscored before it is stale: the tenant's setting, else the gateway's default."""
    stored = await store.tenant_setting(conn, tenant_id, STALENESS_KEY)
    return timedelta(days=_staleness(stored.value, settings).stale_after_days)


@dataclass(frozen=True)
class Section:
    key: str
    values: BaseModel
    configured: bool
    stored: store.StoredSetting


async def sections(conn: asyncpg.Connection, tenant_id: str, settings: GatewaySettings) -> dict[str, Section]:
    """Every rule section of the tenant: what is in force (the defaults where it set none) and its version."""
    stored = await store.tenant_settings(conn, tenant_id, list(SECTIONS))
    return {key: Section(key, _in_force(key, one.value, settings), one.value is not None, one)
            for key, one in stored.items()}


async def edit_sections(conn: asyncpg.Connection, tenant_id: str, actor: str,
                        edits: dict[str, BaseModel]) -> list[str]:
    """Replace each section in ``edits`` that differs from what is stored, bumping only its version, with an audit
    row each (before, after, version); the keys written."""
    written = []
    for key, values in edits.items():
        after = values.model_dump(mode="json")
        before = await store.tenant_setting(conn, tenant_id, key)
        if before.value == after:
            continue  # an edit that changes nothing is no new version
        stored = await store.write_tenant_setting(conn, tenant_id, key, after)
        await store.write_audit(conn, tenant_id, actor, AUDIT_ACTION, key,
                                {"before": before.value, "after": after, "version": stored.version})
        written.append(key)
    return written


def _in_force(key: str, value: dict[str, Any] | None, settings: GatewaySettings) -> BaseModel:
    if key == STALENESS_KEY:
        return _staleness(value, settings)
    model = SECTIONS[key]
    return model.model_validate(value) if value else model()


def _staleness(value: dict[str, Any] | None, settings: GatewaySettings) -> StalenessSettings:
    if value:
        return StalenessSettings.model_validate(value)
    return StalenessSettings(stale_after_days=settings.stale_after_days)
