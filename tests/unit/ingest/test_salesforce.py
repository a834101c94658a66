from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from typing import Any

import pytest
from defusedxml.ElementTree import fromstring
from hypothesis import given, settings
from hypothesis import strategies as st

from dealpulse_ingest.connectors import salesforce
from dealpulse_ingest.connectors.common import AuthError, ConnectorError, MalformedError, to_generic
from tests.unit.ingest.crm_strategies import crm_history, fixture

CONFIG: dict[str, Any] = {"organization_id": "00D5g000004XyZ1EAK",
                          "field_map": {"Region__c": "region", "Industry_Vertical__c": "industry",
                                        "Champion__c": "custom.champion", "Bogus__c": "not_a_field"}}
BODY = fixture("salesforce_opportunity_outbound.xml")


def _envelope(notifications: str, org: str = "00D5g000004XyZ1EAK") -> bytes:
    return (f'<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            f'<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{org}</OrganizationId>'
            f"{notifications}</notifications></soapenv:Body></soapenv:Envelope>").encode()


def _notification(fields: str, sobject_type: str = "sf:Opportunity", notification_id: str = "04l1") -> str:
    return (f'<Notification><Id>{notification_id}</Id><sObject xsi:type="{sobject_type}" '
            f'xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{fields}</sObject></Notification>')


def test_the_recorded_message_maps_every_opportunity_field() -> None:
    message = salesforce.parse_outbound_message(BODY, CONFIG)
    assert message.organization_id == "00D5g000004XyZ1EAK" and message.rejected == []
    # Oldest first, whatever the order in the message.
    won, open_deal = message.changes
    assert open_deal.event_id == "sfdc:04l5g00000AbCdEAAV"
    assert open_deal.fields == {
        "deal_id": "0065g00000XyZaBAAV", "modified_at": datetime(2026, 11, 20, 14, 3, 27, tzinfo=UTC),
        "name": "Globex - Platform Expansion", "stage": "Negotiation/Review", "forecast_category": "Best Case",
        "owner_id": "0055g00000AbCdEAAV", "lead_source": "Partner Referral", "amount": 84000.0,
        "expected_close_date": date(2026, 12, 15), "created_at": datetime(2026, 9, 1, 9, 12, 44, tzinfo=UTC),
        "last_activity_at": datetime(2026, 11, 18, tzinfo=UTC), "is_closed": False, "is_won": False,
        "custom": {"type": "Existing Customer - Upgrade", "champion": "Jane Roe (VP Ops)"},
        "region": "EMEA", "industry": "Manufacturing",
        "history": {"stage_entered_at": datetime(2026, 11, 4, 16, 20, tzinfo=UTC), "close_date_push_count": 3},
    }
    assert won.fields["is_won"] is True and won.fields["stage"] == "Closed Won"
    assert won.fields["lead_source"] is None  # xsi:nil clears the field
    assert "last_activity_at" not in won.fields
    for change in message.changes:
        assert to_generic(change).deal_id == change.deal_id


def test_the_history_salesforce_knows_is_handed_on_as_sent() -> None:
    won, open_deal = salesforce.parse_outbound_message(BODY, CONFIG).changes
    assert crm_history(open_deal) == {"stage_entered_at": "2026-11-04T16:20:00Z", "close_date_push_count": 3}
    assert crm_history(won) is None, "no LastStageChangeDate nor PushCount sent: nothing is known, nothing is 0"


@pytest.mark.parametrize(("fields", "history"), [
    ("<sf:PushCount>0</sf:PushCount>", {"close_date_push_count": 0}),
    ('<sf:PushCount xsi:nil="true"/><sf:LastStageChangeDate xsi:nil="true"/>', None),
    ("<sf:LastStageChangeDate>2026-10-01T08:00:00Z</sf:LastStageChangeDate>",
     {"stage_entered_at": "2026-10-01T08:00:00Z"}),
])
def test_a_history_field_sent_empty_stays_unknown_and_a_zero_stays_zero(fields: str,
                                                                        history: dict[str, Any] | None) -> None:
    stamp = "<sf:Id>006A</sf:Id><sf:SystemModstamp>2026-11-20T14:03:27.000Z</sf:SystemModstamp>"
    [change] = salesforce.parse_outbound_message(_envelope(_notification(stamp + fields)), CONFIG).changes
    assert crm_history(change) == history


def test_a_push_count_that_is_not_a_count_rejects_its_notification() -> None:
    stamp = "<sf:Id>006A</sf:Id><sf:SystemModstamp>2026-11-20T14:03:27.000Z</sf:SystemModstamp>"
    for bad in ("many", "-1", "2.5"):
        message = salesforce.parse_outbound_message(
            _envelope(_notification(stamp + f"<sf:PushCount>{bad}</sf:PushCount>")), CONFIG)
        assert message.changes == [] and "PushCount" in message.rejected[0][1]


def test_raw_stage_and_forecast_category_reach_the_normaliser_unchanged() -> None:
    payload = to_generic(salesforce.parse_outbound_message(BODY, CONFIG).changes[1])
    assert payload.stage == "Negotiation/Review" and payload.forecast_category == "Best Case"


@pytest.mark.parametrize("org", ["00D5g000004XyZ1EAK", "00D5g000004XyZ1"])
def test_the_tenants_organization_is_admitted_in_15_or_18_characters(org: str) -> None:
    salesforce.check_organization({"organization_id": org}, "00D5g000004XyZ1EAK")


@pytest.mark.parametrize(("config", "reason"), [({}, "no Salesforce organization id"),
                                                 ({"organization_id": "00D5g000004XyZ9EAK"}, "not this tenant")])
def test_another_organization_is_refused(config: dict[str, Any], reason: str) -> None:
    with pytest.raises(AuthError, match=reason):
        salesforce.check_organization(config, "00D5g000004XyZ1EAK")


def test_the_token_must_be_the_tenants_webhook_secret() -> None:
    salesforce.check_token("s3cret", "s3cret")
    for secret, token, reason in [("s3cret", "nope", "does not match"), ("s3cret", None, "missing token"),
                                  (None, "s3cret", "unknown tenant")]:
        with pytest.raises(AuthError, match=reason):
            salesforce.check_token(secret, token)


@pytest.mark.parametrize("body", [b"", b"not xml", b"<a><b></a>", b'{"json": true}', "<é>".encode("latin-1"),
                                  b"<Envelope/>", _envelope("").replace(b"<OrganizationId>00D5g000004XyZ1EAK"
                                                                        b"</OrganizationId>", b"")])
def test_malformed_bodies_are_a_clean_error(body: bytes) -> None:
    with pytest.raises(MalformedError):
        salesforce.parse_outbound_message(body, CONFIG)


@pytest.mark.parametrize("attack", [
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><r>&lol2;</r>',
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
])
def test_entity_expansion_and_external_entities_are_refused(attack: bytes) -> None:
    with pytest.raises(MalformedError):
        salesforce.parse_outbound_message(attack, CONFIG)


def test_a_bad_notification_is_rejected_alone() -> None:
    good = "<sf:Id>006A</sf:Id><sf:SystemModstamp>2026-11-20T14:03:27.000Z</sf:SystemModstamp>"
    body = _envelope(_notification(good, notification_id="n1")
                     + _notification("<sf:Id>001A</sf:Id>", "sf:Account", "n2")
                     + _notification("<sf:Id>006B</sf:Id>", notification_id="n3")
                     + _notification(good.replace("006A", "006C") + "<sf:Amount>lots</sf:Amount>",
                                     notification_id="n4"))
    message = salesforce.parse_outbound_message(body, CONFIG)
    assert [c.deal_id for c in message.changes] == ["006A"]
    reasons = " | ".join(reason for _, reason in message.rejected)
    assert "not an Opportunity" in reasons and "SystemModstamp" in reasons and "amount" in reasons
    assert all(raw.startswith(b"<") for raw, _ in message.rejected)


def test_a_zero_amount_means_no_amount_yet() -> None:
    fields = salesforce.map_opportunity({"Id": "006A", "SystemModstamp": "2026-11-20T14:03:27Z", "Amount": "0.0"}, {})
    assert fields["amount"] is None
    assert to_generic(salesforce.ParsedChange("e", fields)).amount is None


def test_the_acknowledgement_is_what_salesforce_expects() -> None:
    root = fromstring(salesforce.ack_response())
    ack = root.find("{http://schemas.xmlsoap.org/soap/envelope/}Body/"
                    "{http://soap.sforce.com/2005/09/outbound}notificationsResponse/"
                    "{http://soap.sforce.com/2005/09/outbound}Ack")
    assert ack is not None and ack.text == "true"


def test_a_fault_carries_an_escaped_reason() -> None:
    root = fromstring(salesforce.fault_response("bad <xml> & worse", client_error=True))
    fault = root.find("{http://schemas.xmlsoap.org/soap/envelope/}Body/{http://schemas.xmlsoap.org/soap/envelope/}Fault")
    assert fault is not None
    assert fault.findtext("faultcode") == "soapenv:Client" and fault.findtext("faultstring") == "bad <xml> & worse"


def _check(body: bytes) -> None:
    try:
        message = salesforce.parse_outbound_message(body, CONFIG)
    except MalformedError:
        return
    for change in message.changes:
        with contextlib.suppress(ConnectorError):
            to_generic(change)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_arbitrary_bytes_never_crash_the_parser(body: bytes) -> None:
    _check(body)


_FIELDS = ["Id", "Name", "Amount", "StageName", "ForecastCategoryName", "CloseDate", "IsClosed", "IsWon", "OwnerId",
           "LeadSource", "Type", "LastActivityDate", "SystemModstamp", "CreatedDate", "CurrencyIsoCode", "Region__c",
           "PushCount", "LastStageChangeDate"]
_XML_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from(_FIELDS), _XML_TEXT | st.sampled_from(
    ["true", "2026-11-20T14:03:27Z", "2026-02-30", "1e400", "-5", "0"])), max_size=8), max_size=3))
def test_arbitrary_opportunity_field_values_are_a_clean_error(notifications: list[list[tuple[str, str]]]) -> None:
    from xml.sax.saxutils import escape

    parts = "".join(_notification("".join(f"<sf:{k}>{escape(v)}</sf:{k}>" for k, v in fields), notification_id=f"n{i}")
                    for i, fields in enumerate(notifications))
    _check(_envelope(parts))
