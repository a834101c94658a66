from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dealpulse_ingest.connectors import hubspot
from dealpulse_ingest.connectors.common import AuthError, ConnectorError, MalformedError, to_generic
from tests.unit.ingest.crm_strategies import crm_history, fixture, json_values, scalars, shaped

SECRET = "app-secret"
URI = "https://ingest.example.com/v1/webhooks/hubspot?tenant=acme"
BODY = fixture("hubspot_deal_batch.json")
NOW = 1_763_650_000.0
TS = str(int(NOW * 1000))
CONFIG: dict[str, Any] = {"stage_map": {"1034567": "Commit - Verbal"}, "field_map": {"region__c": "region"}}


def _docs_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """HubSpot's v3 recipe, written out independently: base64(HMAC-SHA256(secret, method+uri+body+timestamp))."""
    source = (method + uri + body.decode() + timestamp).encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def test_a_v3_signature_made_as_hubspot_documents_it_verifies() -> None:
    signature = _docs_signature(SECRET, "POST", URI, BODY, TS)
    hubspot.verify_v3(SECRET, "POST", URI, BODY, signature, TS, now=NOW)


def test_url_encoded_characters_in_the_uri_are_decoded_before_signing() -> None:
    signature = _docs_signature(SECRET, "POST", URI + "&x=a:b", BODY, TS)
    hubspot.verify_v3(SECRET, "POST", URI + "&x=a%3Ab", BODY, signature, TS, now=NOW)


@pytest.mark.parametrize(("secret", "body", "signature", "timestamp", "now", "reason"), [
    (SECRET, BODY, _docs_signature("other", "POST", URI, BODY, TS), TS, NOW, "does not match"),
    (SECRET, BODY + b" ", _docs_signature(SECRET, "POST", URI, BODY, TS), TS, NOW, "does not match"),
    (SECRET, BODY, _docs_signature(SECRET, "POST", URI, BODY, TS), TS, NOW + 301, "5-minute window"),
    (SECRET, BODY, _docs_signature(SECRET, "POST", URI, BODY, TS), TS, NOW - 301, "5-minute window"),
    (SECRET, BODY, None, TS, NOW, "missing"),
    (SECRET, BODY, "x", None, NOW, "missing"),
    (SECRET, BODY, "x", "yesterday", NOW, "epoch milliseconds"),
    (None, BODY, "x", TS, NOW, "unknown tenant"),
])
def test_bad_signatures_are_refused_with_a_reason(secret: str | None, body: bytes, signature: str | None,
                                                  timestamp: str | None, now: float, reason: str) -> None:
    with pytest.raises(AuthError, match=reason):
        hubspot.verify_v3(secret, "POST", URI, body, signature, timestamp, now=now)


def test_a_signature_for_another_url_is_refused() -> None:
    signature = _docs_signature(SECRET, "POST", URI.replace("acme", "evil"), BODY, TS)
    with pytest.raises(AuthError):
        hubspot.verify_v3(SECRET, "POST", URI, BODY, signature, TS, now=NOW)


def test_each_event_of_the_recorded_batch_is_decided_on_its_own() -> None:
    batch = hubspot.parse_batch(BODY, CONFIG)
    decided = {r.index: r for r in batch.results}
    assert decided[6].status == "ignored" and "hs_deal_stage_probability" in (decided[6].reason or "")
    assert decided[8].status == "rejected" and "amount" in (decided[8].reason or "")
    assert set(batch.raw_rejected) == {8}
    created, committed, deleted = batch.changes
    # The creation and its property changes share an instant: one change, or all but one would be stale.
    assert created.indices == [0, 1, 2, 3, 4, 5]
    assert created.fields == {
        "deal_id": "18329450112", "modified_at": datetime(2025, 11, 20, 14, 3, 27, tzinfo=UTC),
        "created_at": datetime(2025, 11, 20, 14, 3, 27, tzinfo=UTC), "name": "Umbrella Corp - Data Platform",
        "amount": 45000.0, "stage": "appointmentscheduled", "expected_close_date": date(2025, 12, 31),
        "owner_id": "77123456"}
    assert committed.indices == [7] and committed.fields["stage"] == "Commit - Verbal"
    assert deleted.deleted and deleted.fields == {"deal_id": "18329450199",
                                                  "modified_at": datetime(2025, 11, 20, 15, 20, tzinfo=UTC)}
    for change in batch.changes:
        payload = to_generic(change)
        assert payload.deleted is change.deleted
        assert crm_history(change) is None, "no history property sent: nothing is known, nothing is 0"


def test_the_history_hubspot_knows_is_taken_beside_the_stage_and_creation_it_refers_to() -> None:
    batch = hubspot.parse_batch(fixture("hubspot_deal_history_batch.json"), CONFIG)
    created, committed = batch.changes
    assert created.indices == [0, 1, 2, 3, 4, 5] and committed.indices == [6, 7, 8, 9]
    # Entered its (current) stage when created; its lifetime count is its 30-day count on the day it was created.
    assert crm_history(created) == {"stage_entered_at": "2025-11-16T13:33:20Z", "activity_count_30d": 2}
    # Five days later HubSpot's lifetime count cannot be told from a 30-day count without the deal's creation time
    # in the delivery: not sent. The date it entered the current stage is.
    assert crm_history(committed) == {"stage_entered_at": "2025-11-21T13:33:20Z"}
    assert committed.fields["stage"] == "Commit - Verbal"
    # A date entered a stage, alone, may be a past stage's (HubSpot back-fills them): not taken.
    [alone] = batch.results
    assert (alone.index, alone.status, alone.deal_id) == (10, "ignored", "18329450600")


def test_the_date_entered_another_stage_is_not_the_current_stages() -> None:
    events = [{"subscriptionType": "deal.propertyChange", "objectId": 7, "occurredAt": 1763647407000, "eventId": i,
               "propertyName": name, "propertyValue": value}
              for i, (name, value) in enumerate([("dealstage", "1034567"),
                                                 ("hs_v2_date_entered_appointmentscheduled", "1763000000000"),
                                                 ("hs_date_entered_1034567", ""), ("num_notes", "4"),
                                                 ("createdate", "1760000000000")])]
    [change] = hubspot.parse_batch(orjson.dumps(events), CONFIG).changes
    assert change.indices == [0, 1, 2, 3, 4]
    assert crm_history(change) is None, "the deal is older than 30 days: its lifetime count says nothing of them"


def test_a_stage_entered_on_another_instant_is_taken_when_it_names_the_current_stage() -> None:
    events = [{"subscriptionType": "deal.propertyChange", "objectId": 7, "occurredAt": 1763647407000, "eventId": i,
               "propertyName": name, "propertyValue": value}
              for i, (name, value) in enumerate([("dealstage", "1034567"), ("hs_v2_date_entered_1034567",
                                                                           "2025-11-20T14:03:27.000Z")])]
    [change] = hubspot.parse_batch(orjson.dumps(events), CONFIG).changes
    assert crm_history(change) == {"stage_entered_at": "2025-11-20T14:03:27Z"}


@pytest.mark.parametrize(("name", "value"), [("num_notes", "lots"), ("num_notes", "-2"),
                                             ("hs_v2_date_entered_current_stage", "last week"),
                                             ("hs_date_entered_1034567", "not a time")])
def test_a_history_property_that_cannot_be_read_is_rejected(name: str, value: str) -> None:
    event = {"subscriptionType": "deal.propertyChange", "objectId": 7, "occurredAt": 1763647407000,
             "propertyName": name, "propertyValue": value, "eventId": 1}
    batch = hubspot.parse_batch(orjson.dumps([event]), CONFIG)
    assert batch.changes == [] and [r.status for r in batch.results] == ["rejected"]


def test_a_bad_value_does_not_take_the_other_events_of_its_deal_down() -> None:
    events = [{"subscriptionType": "deal.propertyChange", "objectId": 7, "occurredAt": 1763647407000,
               "propertyName": name, "propertyValue": value, "eventId": i}
              for i, (name, value) in enumerate([("dealname", "Fine"), ("deal_currency_code", "dollars")])]
    batch = hubspot.parse_batch(orjson.dumps(events), CONFIG)
    assert [c.indices for c in batch.changes] == [[0]] and batch.changes[0].fields["name"] == "Fine"
    assert [(r.index, r.status) for r in batch.results] == [(1, "rejected")]
    assert "currency" in (batch.results[0].reason or "")


def test_a_retried_event_keeps_its_identity() -> None:
    event = orjson.loads(BODY)[7]
    first = hubspot.parse_event(event, CONFIG)
    again = hubspot.parse_event({**event, "attemptNumber": 3}, CONFIG)
    assert not isinstance(first, str) and not isinstance(again, str)
    assert first[0].event_id == again[0].event_id
    other = hubspot.parse_event({**event, "propertyValue": "closedwon"}, CONFIG)
    assert not isinstance(other, str) and other[0].event_id != first[0].event_id


def test_a_merge_tombstones_every_deal_that_no_longer_exists() -> None:
    batch = hubspot.parse_batch(fixture("hubspot_deal_merge.json"), CONFIG)
    assert batch.results == []
    gone = {(c.deal_id, c.indices[0]) for c in batch.changes}
    # Deals merge into a new deal: the primary goes with the merged ones; where the primary survives, it stays.
    assert gone == {("18329450300", 0), ("18329450301", 0), ("18329450302", 0), ("18329450501", 1)}
    assert all(c.deleted and to_generic(c).deleted for c in batch.changes)
    assert len({c.event_id for c in batch.changes}) == 4, "each tombstone needs its own event id"
    retried = orjson.loads(fixture("hubspot_deal_merge.json"))
    retried[0]["attemptNumber"] = 2
    again = hubspot.parse_batch(orjson.dumps(retried), CONFIG)
    assert {c.event_id for c in again.changes} == {c.event_id for c in batch.changes}


def test_a_restore_comes_before_the_changes_of_its_instant() -> None:
    events = [{"subscriptionType": "deal.propertyChange", "objectId": 7, "occurredAt": 1763647407000,
               "propertyName": "dealname", "propertyValue": "Back again", "eventId": 1},
              {"subscriptionType": "deal.restore", "objectId": 7, "occurredAt": 1763647407000, "eventId": 2}]
    batch = hubspot.parse_batch(orjson.dumps(events), CONFIG)
    restore, renamed = batch.changes
    assert restore.restored and to_generic(restore).restored and restore.indices == [1]
    assert not renamed.restored and renamed.fields["name"] == "Back again"


def test_a_merge_without_its_ids_is_rejected() -> None:
    event = orjson.loads(fixture("hubspot_deal_merge.json"))[0]
    for broken in ({**event, "mergedObjectIds": []}, {k: v for k, v in event.items() if k != "primaryObjectId"},
                   {**event, "mergedObjectIds": [True]}):
        batch = hubspot.parse_batch(orjson.dumps([broken]), CONFIG)
        assert batch.changes == [] and [r.status for r in batch.results] == ["rejected"]


def test_an_unmapped_stage_id_passes_through_raw() -> None:
    assert hubspot.map_property("dealstage", "987654", {}) == {"stage": "987654"}


def test_custom_properties_follow_the_tenants_field_map_and_others_are_ignored() -> None:
    assert hubspot.map_property("region__c", "EMEA", CONFIG) == {"region": "EMEA"}
    assert hubspot.map_property("some_other_prop", "x", CONFIG) is None


def test_events_from_another_portal_are_rejected() -> None:
    batch = hubspot.parse_batch(BODY, {**CONFIG, "portal_id": 999})
    assert batch.changes == [] and all(r.status in ("rejected", "ignored") for r in batch.results)
    assert "portalId" in (batch.results[0].reason or "")


@pytest.mark.parametrize("body", [b"", b"{", b'{"a": 1}', b'"events"', b"null", b"[" + b"{}," * 1000 + b"{}]"])
def test_a_body_that_is_not_an_array_of_events_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedError):
        hubspot.parse_batch(body, CONFIG)


def test_unsupported_and_odd_events_are_rejected_not_raised() -> None:
    body = orjson.dumps([1, {"subscriptionType": "contact.creation", "objectId": 1, "occurredAt": 1},
                         {"subscriptionType": "deal.propertyChange", "objectId": 1, "occurredAt": 1},
                         {"subscriptionType": "deal.merge", "objectId": 1, "occurredAt": 1},
                         {"subscriptionType": "deal.creation", "objectId": True, "occurredAt": 1}])
    batch = hubspot.parse_batch(body, CONFIG)
    assert batch.changes == [] and [r.status for r in batch.results] == ["rejected"] * 5


def _check(body: bytes, config: dict[str, Any]) -> None:
    try:
        batch = hubspot.parse_batch(body, config)
    except MalformedError:
        return
    # Every event is decided exactly once: rejected or ignored, or carried by its change(s).
    decided = {r.index for r in batch.results}
    carried = {i for c in batch.changes for i in c.indices}
    assert len(decided) == len(batch.results) and not decided & carried
    assert decided | carried == set(range(len(json.loads(body))))
    for change in batch.changes:
        with contextlib.suppress(ConnectorError):
            to_generic(change)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_json_never_crashes_the_parser(body: bytes) -> None:
    _check(body, CONFIG)


_KEYS = ["eventId", "subscriptionId", "portalId", "occurredAt", "subscriptionType", "attemptNumber", "objectId",
         "propertyName", "propertyValue", "changeSource", "primaryObjectId", "mergedObjectIds", "newObjectId"]
_VALUES = scalars | st.sampled_from(["deal.creation", "deal.propertyChange", "deal.deletion", "deal.merge",
                                     "deal.restore",
                                     "dealstage", "amount",
                                     "closedate", "createdate", "hs_is_closed", "notes_last_updated", "dealname",
                                     "num_notes", "hs_v2_date_entered_current_stage", "hs_date_entered_closedwon",
                                     "hs_v2_date_entered_1034567",
                                     "1763647407000", "2026-11-20T14:03:27Z", "99999999999999999999", "true"])


@settings(max_examples=500, deadline=None)
@given(st.lists(shaped(_KEYS, _VALUES), max_size=6), st.sampled_from([CONFIG, {}, {"stage_map": [1]},
                                                                       {"portal_id": 62515}]))
def test_hubspot_shaped_events_with_arbitrary_values_are_a_clean_error(events: list[Any], config: Any) -> None:
    _check(json.dumps(events).encode(), config)
