"""Which secrets a tenant's delivery may prove itself with (one rule for every webhook), and the connector
settings contract the gateway validates and ingest reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from dealpulse_common.connector_settings import MAPPABLE_FIELDS, HubSpotConnector, PipedriveConnector
from dealpulse_common.history import HISTORY_KEY
from dealpulse_common.tenant_secrets import PREVIOUS_WEBHOOK, WEBHOOK, StoredSecret, TenantKeys
from dealpulse_ingest.handlers import accepted_secrets
from dealpulse_ingest.payloads import GenericDealChange

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def _keys(**secrets: StoredSecret) -> TenantKeys:
    return TenantKeys(disabled=False, secrets={k.replace("__", "."): v for k, v in secrets.items()})


def test_the_webhook_secret_and_the_replaced_one_inside_its_overlap() -> None:
    keys = TenantKeys(False, {WEBHOOK: StoredSecret("new", None),
                              PREVIOUS_WEBHOOK: StoredSecret("old", NOW + timedelta(seconds=1))})
    for provider in ("generic", "hubspot", "salesforce", "pipedrive"):
        assert accepted_secrets(keys, provider, NOW) == ["new", "old"]
    assert accepted_secrets(keys, "generic", NOW + timedelta(seconds=1)) == ["new"]  # the overlap is over


def test_a_stored_connector_secret_replaces_the_webhook_secret_for_its_crm_only() -> None:
    keys = _keys(webhook=StoredSecret("hook", None), hubspot__app_secret=StoredSecret("app", None),
                 salesforce__token=StoredSecret("sf", None), pipedrive__password=StoredSecret("pd", None))
    assert accepted_secrets(keys, "hubspot", NOW) == ["app"]
    assert accepted_secrets(keys, "salesforce", NOW) == ["sf"]
    assert accepted_secrets(keys, "pipedrive", NOW) == ["pd"]
    assert accepted_secrets(keys, "generic", NOW) == ["hook"]


def test_an_unknown_tenant_has_no_secret() -> None:
    assert accepted_secrets(None, "generic", NOW) == []


def test_field_map_targets_are_the_generic_webhooks_single_value_fields() -> None:
    objects = {"deal_id", "modified_at", "event_id", "qualification", "custom", "deleted", HISTORY_KEY}
    assert frozenset(GenericDealChange.model_fields) - objects == MAPPABLE_FIELDS


def test_connector_settings_refuse_bad_maps_and_keep_secrets_out_of_what_is_stored() -> None:
    hubspot = HubSpotConnector.model_validate({"app_secret": "app-secret-1", "portal_id": 7,
                                               "field_map": {"hs_region": "region", "x": "custom.tier"}})
    assert hubspot.given_secrets() == {"app_secret": "app-secret-1"}
    assert "app-secret-1" not in str(hubspot.stored_settings()) and "app-secret-1" not in repr(hubspot)
    assert PipedriveConnector.model_validate({}).given_secrets() == {}
    for bad in ({"field_map": {"hs_region": "regoin"}}, {"field_map": {"x": "custom."}}, {"app_secret": "short"},
                {"portal_id": 0}, {"unknown": True}):
        with pytest.raises(ValidationError):
            HubSpotConnector.model_validate(bad)
