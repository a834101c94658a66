"""A tenant's CRM connector settings: the contract between their one writer (the gateway's
``PUT /v1/admin/connectors/{crm}``) and their one reader (ingest's connectors).

What is not secret is stored in ``tenant_settings.settings[crm]`` (organization id, portal id, user name, stage and
field maps); what is secret (the Salesforce token, HubSpot's app secret, the Pipedrive password) is sealed in
``tenant_secrets`` (``dealpulse_common.tenant_secrets``) and never stored, logged or answered in clear.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from dealpulse_common.deal import DealText
from dealpulse_common.tenant_secrets import CONNECTOR_SECRETS

# The canonical fields a field map may fill (the generic webhook's single-value fields; ingest's payload model
# is checked against this list by a unit test), or ``custom.<key>``.
MAPPABLE_FIELDS = frozenset({
    "name", "account_name", "amount", "currency", "stage", "forecast_category", "industry", "region", "product_type",
    "lead_source", "owner_id", "owner_name", "manager_id", "created_at", "expected_close_date", "closed_at",
    "is_closed", "is_won", "last_activity_at", "restored"})
MAX_MAP_ENTRIES = 200
CUSTOM_PREFIX = "custom."


def _mappable(target: str) -> str:
    if target in MAPPABLE_FIELDS or (target.startswith(CUSTOM_PREFIX) and len(target) > len(CUSTOM_PREFIX)):
        return target
    raise ValueError(f"{target!r} is not a deal field a CRM field can fill (one of {', '.join(sorted(MAPPABLE_FIELDS))}"
                     f", or {CUSTOM_PREFIX}<key>)")


CrmName = Annotated[DealText, StringConstraints(min_length=1, max_length=200)]
FieldTarget = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_mappable)]
FieldMap = Annotated[dict[CrmName, FieldTarget], Field(max_length=MAX_MAP_ENTRIES,
                                                       description="CRM field -> deal field (or custom.<key>)")]
StageMap = Annotated[dict[CrmName, CrmName], Field(max_length=MAX_MAP_ENTRIES,
                                                   description="CRM stage id -> stage name")]
Secret = Annotated[SecretStr, Field(min_length=8, max_length=500)]


class _Connector(BaseModel):
    model_config = ConfigDict(extra="forbid")
    CRM: ClassVar[str]

    field_map: FieldMap = Field(default_factory=dict)

    def stored_settings(self) -> dict[str, Any]:
        """What goes into ``tenant_settings`` (never a secret)."""
        return self.model_dump(mode="json", exclude=set(CONNECTOR_SECRETS[self.CRM]), exclude_none=True)

    def given_secrets(self) -> dict[str, str]:
        """The secrets this edit sets (an omitted one keeps its stored value)."""
        values = {key: getattr(self, key) for key in CONNECTOR_SECRETS[self.CRM]}
        return {key: value.get_secret_value() for key, value in values.items() if value is not None}


class SalesforceConnector(_Connector):
    CRM = "salesforce"
    organization_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")] = Field(
        description="The org whose Outbound Messages are accepted (15 or 18 characters)")
    token: Secret | None = Field(None, description="The `token` query parameter of the Outbound Message URL "
                                                   "(write only; default: the tenant's webhook secret)")


class HubSpotConnector(_Connector):
    CRM = "hubspot"
    portal_id: Annotated[int, Field(gt=0)] | None = Field(None, description="Only this HubSpot account's events")
    app_secret: Secret | None = Field(None, description="The HubSpot app's client secret that signs its v3 "
                                                        "signatures (write only; default: the webhook secret)")
    stage_map: StageMap = Field(default_factory=dict)


class PipedriveConnector(_Connector):
    CRM = "pipedrive"
    username: CrmName | None = Field(None, description="HTTP Basic user of the webhook (default: the tenant id)")
    password: Secret | None = Field(None, description="HTTP Basic password (write only; default: the webhook "
                                                      "secret)")
    stage_map: StageMap = Field(default_factory=dict)


CONNECTORS: dict[str, type[_Connector]] = {c.CRM: c for c in (SalesforceConnector, HubSpotConnector,
                                                                PipedriveConnector)}
