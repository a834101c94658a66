"""Salesforce Outbound Messages: SOAP notifications of Opportunity changes, and the SOAP answers Salesforce wants.

Outbound Messages are not signed. A tenant proves itself with the ``token`` query parameter (its webhook secret,
configured in the Outbound Message's endpoint URL) and the message's ``OrganizationId`` must be the tenant's
configured org (``tenant_settings.settings.salesforce.organization_id``).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring, tostring

from dealpulse_ingest.connectors.common import (
    AuthError,
    ConnectorError,
    MalformedError,
    ParsedChange,
    apply_field_map,
    config_map,
    parse_amount,
    parse_bool,
    parse_count,
    parse_date,
    parse_datetime,
    put_history,
)

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"

# Opportunity field -> canonical field. Stage and forecast category stay raw: the normaliser decides them.
FIELD_MAP: dict[str, str] = {
    "Name": "name", "StageName": "stage", "ForecastCategoryName": "forecast_category", "OwnerId": "owner_id",
    "LeadSource": "lead_source", "CurrencyIsoCode": "currency",
}
# Opportunity.Type is the business type ("New Customer", "Existing Customer - Upgrade"), not a product line,
# so it goes to custom rather than being forced into product_type.
CUSTOM_FIELDS: dict[str, str] = {"Type": "type"}


@dataclass
class OutboundMessage:
    organization_id: str
    action_id: str | None
    changes: list[ParsedChange]
    rejected: list[tuple[bytes, str]]  # (notification XML, why) for notifications that can never be stored


def check_token(expected_secret: str | None, token: str | None) -> None:
    if not expected_secret:
        raise AuthError("unknown tenant or no webhook secret configured")
    if not token:
        raise AuthError("missing token query parameter")
    if not hmac.compare_digest(expected_secret.encode(), token.encode()):
        raise AuthError("token does not match the tenant's webhook secret")


def check_organization(config: Mapping[str, Any], organization_id: str) -> None:
    """Salesforce shows org ids with 15 or 18 characters; the first 15 identify the org (case-sensitively)."""
    configured = config.get("organization_id")
    if not isinstance(configured, str) or not configured:
        raise AuthError("no Salesforce organization id configured for this tenant (settings.salesforce)")
    if configured[:15] != organization_id[:15]:
        raise AuthError(f"organization id {organization_id[:18]!r} is not this tenant's Salesforce org")


def _local(tag: object) -> str:
    # Comments and processing instructions have callable tags; they are never the element we look for.
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(parent: Element, name: str) -> Element | None:
    return next((c for c in parent if _local(c.tag) == name), None)


def _text(parent: Element, name: str) -> str | None:
    node = _child(parent, name)
    return None if node is None or node.text is None else node.text.strip()


def parse_outbound_message(body: bytes, config: Mapping[str, Any]) -> OutboundMessage:
    """Parse a whole message; notifications that cannot be mapped are returned as ``rejected``, not raised."""
    try:
        root = fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError, LookupError) as exc:
        raise MalformedError(f"body is not well-formed XML: {exc}") from None
    if _local(root.tag) != "Envelope":
        raise MalformedError("not a SOAP envelope")
    soap_body = _child(root, "Body")
    notifications = None if soap_body is None else _child(soap_body, "notifications")
    if notifications is None:
        raise MalformedError("SOAP body has no Outbound Message notifications element")
    organization_id = _text(notifications, "OrganizationId")
    if not organization_id:
        raise MalformedError("Outbound Message has no OrganizationId")
    field_map = config_map(config, "field_map")
    message = OutboundMessage(organization_id, _text(notifications, "ActionId"), [], [])
    for node in notifications:
        if _local(node.tag) != "Notification":
            continue
        try:
            message.changes.append(parse_notification(node, field_map))
        except ConnectorError as exc:
            message.rejected.append((tostring(node), str(exc)))
    # Oldest first, so two notifications of one deal in one message are both applied, not one seen as stale.
    message.changes.sort(key=lambda c: str(c.fields.get("modified_at", "")))
    return message


def parse_notification(node: Element, field_map: Mapping[str, Any]) -> ParsedChange:
    notification_id = _text(node, "Id")
    sobject = _child(node, "sObject")
    if not notification_id or sobject is None:
        raise ConnectorError("notification has no Id or no sObject")
    sobject_type = sobject.get(XSI_TYPE, "")
    if sobject_type and _local(sobject_type.rsplit(":", 1)[-1]) != "Opportunity":
        raise ConnectorError(f"notification is about a {sobject_type!r}, not an Opportunity")
    values: dict[str, str | None] = {}
    for item in sobject:
        name = _local(item.tag)
        if name:
            values[name] = None if item.get(XSI_NIL) == "true" else (item.text or "").strip()
    return ParsedChange(event_id=f"sfdc:{notification_id}", fields=map_opportunity(values, field_map),
                        raw=tostring(node))


def map_opportunity(values: Mapping[str, str | None], field_map: Mapping[str, Any]) -> dict[str, Any]:
    """Opportunity fields (as sent, ``None`` for xsi:nil) to ``GenericDealChange`` input."""
    if not values.get("Id"):
        raise ConnectorError("Opportunity has no Id")
    if not values.get("SystemModstamp"):
        # Without the modification stamp a late delivery could overwrite a newer change; refuse rather than guess.
        raise ConnectorError("Opportunity has no SystemModstamp (add it to the Outbound Message's fields)")
    fields: dict[str, Any] = {"deal_id": values["Id"], "modified_at": parse_datetime(values["SystemModstamp"])}
    for source, target in FIELD_MAP.items():
        if source in values:
            fields[target] = values[source]
    if "Amount" in values:
        fields["amount"] = parse_amount(values["Amount"])
    if values.get("CloseDate"):
        fields["expected_close_date"] = parse_date(values["CloseDate"])
    if values.get("CreatedDate"):
        fields["created_at"] = parse_datetime(values["CreatedDate"])
    if last_activity := values.get("LastActivityDate"):
        # A date without a time: midnight UTC, the start of the day the activity happened.
        fields["last_activity_at"] = parse_datetime(last_activity + "T00:00:00+00:00")
    for flag, target in (("IsClosed", "is_closed"), ("IsWon", "is_won")):
        if values.get(flag):
            fields[target] = parse_bool(values[flag])
    _map_history(values, fields)
    custom = {key: values[source] for source, key in CUSTOM_FIELDS.items() if source in values}
    if custom:
        fields["custom"] = custom
    apply_field_map(values, field_map, fields)
    return fields


def _map_history(values: Mapping[str, str | None], fields: dict[str, Any]) -> None:
    """What Salesforce knows of the deal's past (docs/CRM_WEBHOOKS.md, "History"): when it entered its stage and
    how often its close date was pushed. Salesforce keeps no amount-change or 30-day activity count."""
    if stage_changed := values.get("LastStageChangeDate"):
        put_history(fields, "stage_entered_at", parse_datetime(stage_changed))
    put_history(fields, "close_date_push_count", parse_count(values.get("PushCount"), "PushCount"))


def ack_response() -> bytes:
    """The acknowledgement without which Salesforce re-sends the message for up to 24 hours."""
    return (b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
            b"<soapenv:Body><notificationsResponse xmlns=\"http://soap.sforce.com/2005/09/outbound\">"
            b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>")


def fault_response(message: str, *, client_error: bool) -> bytes:
    """A SOAP 1.1 fault (sent with HTTP 500): Salesforce keeps the message queued and retries it."""
    code = "soapenv:Client" if client_error else "soapenv:Server"
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
            f"<soapenv:Fault><faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring>"
            "</soapenv:Fault></soapenv:Body></soapenv:Envelope>").encode()
