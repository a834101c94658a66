from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dealpulse_ingest.connectors import pipedrive
from dealpulse_ingest.connectors.common import AuthError, ConnectorError, MalformedError, to_generic
from tests.unit.ingest.crm_strategies import crm_history, fixture, json_values, scalars, shaped

CONFIG: dict[str, Any] = {
    "stage_map": {"3": "Proposal Made", "4": "Negotiations Started"},
    "field_map": {"8f4b27d3c1b14a9e2c1d4e5f6a7b8c9d0e1f2a3b": "product_type",
                  "d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3": "custom.services_value"},
}


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_with_the_tenant_and_its_secret_is_admitted() -> None:
    pipedrive.check_basic_auth(_basic("acme", "s3cret"), "acme", "s3cret")


@pytest.mark.parametrize(("header", "secret", "reason"), [
    (None, "s3cret", "missing"), ("Bearer abc", "s3cret", "missing"), ("Basic !!!", "s3cret", "malformed"),
    (_basic("acme", "wrong"), "s3cret", "do not match"), (_basic("globex", "s3cret"), "s3cret", "do not match"),
    (_basic("acme", "s3cret"), None, "unknown tenant"),
])
def test_bad_basic_auth_is_refused_with_a_reason(header: str | None, secret: str | None, reason: str) -> None:
    with pytest.raises(AuthError, match=reason):
        pipedrive.check_basic_auth(header, "acme", secret)


def test_the_recorded_change_maps_the_whole_deal() -> None:
    change = pipedrive.parse_event(fixture("pipedrive_deal_change_v2.json"), CONFIG)
    assert change.event_id == "pipedrive:b5e1c6f0-2b3f-4d8a-9a4e-6c1e2f7d8a90" and not change.deleted
    assert change.fields == {
        "deal_id": "4711", "modified_at": datetime(2026, 11, 20, 10, 31, 16, tzinfo=UTC),
        "name": "Hooli - Nucleus Rollout", "currency": "USD", "amount": 120000.0, "owner_id": "13540546",
        "is_closed": False, "stage": "Proposal Made", "expected_close_date": date(2026, 12, 31),
        "created_at": datetime(2026, 10, 2, 8, 15, tzinfo=UTC),
        "last_activity_at": datetime(2026, 11, 19, tzinfo=UTC),
        "product_type": "Enterprise", "custom": {"services_value": 15000},
        "history": {"stage_entered_at": datetime(2026, 11, 20, 10, 31, 16, tzinfo=UTC)},
    }
    assert to_generic(change).stage == "Proposal Made"


def _deal_change(**data: Any) -> bytes:
    event = orjson.loads(fixture("pipedrive_deal_change_v2.json"))
    event["data"].update(data)
    return orjson.dumps(event)


def test_the_history_pipedrive_knows_is_handed_on_as_sent() -> None:
    # Created 49 days before the change: its 7 done activities since then are no count of the last 30 days.
    assert crm_history(pipedrive.parse_event(fixture("pipedrive_deal_change_v2.json"), CONFIG)) == {
        "stage_entered_at": "2026-11-20T10:31:16Z"}
    young = pipedrive.parse_event(_deal_change(add_time="2026-10-21T10:31:16Z"), CONFIG)
    assert crm_history(young) == {"stage_entered_at": "2026-11-20T10:31:16Z", "activity_count_30d": 7}
    no_stage_change = pipedrive.parse_event(_deal_change(stage_change_time=None, done_activities_count=None), CONFIG)
    assert crm_history(no_stage_change) is None, "nothing sent: nothing is known, nothing is 0"


def test_a_closed_deals_stage_change_time_is_not_when_it_entered_won() -> None:
    change = pipedrive.parse_event(fixture("pipedrive_deal_won_v2.json"), CONFIG)
    assert "stage_entered_at" not in (crm_history(change) or {})


@pytest.mark.parametrize(("add_time", "counted"), [("2026-10-21T10:31:16Z", True), ("2026-10-21T10:31:15Z", False),
                                                   ("2026-11-21T00:00:00Z", False), (None, False)])
def test_a_lifetime_count_is_a_30_day_count_only_within_30_days_of_creation(add_time: str | None,
                                                                           counted: bool) -> None:
    change = pipedrive.parse_event(_deal_change(add_time=add_time, stage_change_time=None), CONFIG)
    assert crm_history(change) == ({"activity_count_30d": 7} if counted else None)


def test_an_activity_count_that_is_not_a_count_is_a_clean_error() -> None:
    with pytest.raises(ConnectorError, match="done_activities_count"):
        pipedrive.parse_event(_deal_change(done_activities_count="seven"), CONFIG)


def test_an_unmapped_stage_id_passes_through_raw() -> None:
    change = pipedrive.parse_event(fixture("pipedrive_deal_change_v2.json"), {})
    assert change.fields["stage"] == "3"


def test_a_won_deal_is_closed_and_won() -> None:
    change = pipedrive.parse_event(fixture("pipedrive_deal_won_v2.json"), CONFIG)
    assert change.fields["stage"] == "won" and change.fields["is_closed"] is True and change.fields["is_won"] is True
    assert change.fields["closed_at"] == datetime(2026, 11, 21, 9, tzinfo=UTC)
    payload = to_generic(change)
    assert payload.is_won is True


def test_a_lost_deal_is_closed_and_not_won() -> None:
    event = orjson.loads(fixture("pipedrive_deal_won_v2.json"))
    event["data"].update(status="lost", won_time=None, lost_time="2026-11-21T09:00:00Z")
    change = pipedrive.parse_event(orjson.dumps(event), CONFIG)
    assert (change.fields["stage"], change.fields["is_closed"], change.fields["is_won"]) == ("lost", True, False)


def test_a_deletion_is_a_tombstone_ordered_by_the_event_time() -> None:
    change = pipedrive.parse_event(fixture("pipedrive_deal_delete_v2.json"), CONFIG)
    assert change.deleted
    assert change.fields == {"deal_id": "4711", "modified_at": datetime(2026, 11, 22, 12, tzinfo=UTC)}
    assert to_generic(change).deleted is True


def test_a_deal_taken_out_of_the_trash_is_a_restore() -> None:
    change = pipedrive.parse_event(fixture("pipedrive_deal_restore_v2.json"), CONFIG)
    assert change.restored and not change.deleted
    assert change.fields == {"deal_id": "4711", "modified_at": datetime(2026, 11, 23, 8, 30, tzinfo=UTC)}
    assert to_generic(change).restored is True
    v1 = orjson.dumps({"meta": {"action": "updated", "object": "deal", "id": 4711, "timestamp": 1795422600},
                       "current": {"id": 4711, "status": "open", "update_time": "2026-11-23 08:30:00"},
                       "previous": {"status": "deleted"}})
    assert pipedrive.parse_event(v1, CONFIG).restored
    ordinary = orjson.loads(fixture("pipedrive_deal_restore_v2.json"))
    ordinary["previous"] = {"value": 100_000}
    assert not pipedrive.parse_event(orjson.dumps(ordinary), CONFIG).restored


def test_a_v1_body_is_understood_too() -> None:
    body = orjson.dumps({"current": None, "meta": {"action": "updated", "object": "deal", "id": 12},
                         "data": None})
    with pytest.raises(ConnectorError, match="no deal"):
        pipedrive.parse_event(body, CONFIG)
    body = orjson.dumps({"v": 1, "event": "updated.deal", "meta": {"action": "updated", "object": "deal", "id": 12},
                         "current": {"id": 12, "title": "T", "value": 0, "user_id": {"id": 5, "name": "Rep"},
                                     "stage_id": 1, "status": "open", "update_time": "2026-11-20 10:31:16"},
                         "previous": {"title": "Old title"}})
    change = pipedrive.parse_event(body, CONFIG)
    assert change.fields["name"] == "T", "v1's current state, not its previous values"
    assert change.fields["owner_id"] == "5" and change.fields["amount"] is None
    assert change.fields["modified_at"] == datetime(2026, 11, 20, 10, 31, 16, tzinfo=UTC)
    assert change.event_id.startswith("pipedrive:")


@pytest.mark.parametrize(("body", "error", "reason"), [
    (b"", MalformedError, "JSON"), (b"[]", MalformedError, "meta"), (b'{"data": {}}', MalformedError, "meta"),
    (b'{"meta": {"action": "change", "entity": "person"}, "data": {"id": 1}}', ConnectorError, "not a deal"),
    (b'{"meta": {"action": "merge", "entity": "deal"}, "data": {"id": 1}}', ConnectorError, "unsupported action"),
    (b'{"meta": {"action": "change", "entity": "deal", "entity_id": "1"}, "data": {"id": 1}}', ConnectorError,
     "order it by"),
])
def test_bad_bodies_are_a_clean_error(body: bytes, error: type[Exception], reason: str) -> None:
    with pytest.raises(error, match=reason):
        pipedrive.parse_event(body, CONFIG)


def _check(body: bytes) -> None:
    try:
        change = pipedrive.parse_event(body, CONFIG)
    except ConnectorError:
        return
    with contextlib.suppress(ConnectorError):
        to_generic(change)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_json_never_crashes_the_parser(body: bytes) -> None:
    _check(body)


_DEAL_KEYS = ["id", "title", "value", "currency", "owner_id", "user_id", "stage_id", "status", "add_time",
              "update_time", "close_time", "won_time", "lost_time", "expected_close_date", "last_activity_date",
              "custom_fields", "org_name", "is_deleted", "8f4b27d3c1b14a9e2c1d4e5f6a7b8c9d0e1f2a3b",
              "stage_change_time", "done_activities_count"]
_VALUES = scalars | st.sampled_from(["won", "lost", "open", "deleted", "2026-11-20T10:31:16Z", "2026-13-45",
                                     "2026-11-20 10:31:16", "1e400"])


@settings(max_examples=500, deadline=None)
@given(shaped(_DEAL_KEYS, _VALUES) | st.none(), shaped(_DEAL_KEYS, _VALUES) | st.none(),
       shaped(["action", "entity", "object", "entity_id", "id", "timestamp"],
              st.sampled_from(["change", "create", "delete", "updated", "deal", "2026-11-20T10:31:16Z"]) | scalars))
def test_pipedrive_shaped_events_with_arbitrary_values_are_a_clean_error(data: Any, previous: Any, meta: Any) -> None:
    _check(json.dumps({"data": data, "previous": previous, "meta": meta}).encode())
