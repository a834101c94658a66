"""Per-tenant CRM configuration: the provider's section of ``tenant_settings.settings`` (owned by the gateway).

Keys: ``settings.salesforce`` {organization_id, field_map}, ``settings.hubspot`` {stage_map, field_map,
portal_id}, ``settings.pipedrive`` {username, stage_map, field_map}. Their secrets (the Salesforce token, HubSpot's app
secret, the Pipedrive password) are never here: they are sealed in ``tenant_secrets``.
"""

from __future__ import annotations

from typing import Any


def section(settings: Any, provider: str) -> dict[str, Any]:
    """The provider's section of a tenant's stored settings; empty when either is absent or not an object."""
    value = settings.get(provider) if isinstance(settings, dict) else None
    return dict(value) if isinstance(value, dict) else {}
