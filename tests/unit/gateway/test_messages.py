"""The stream entry the fan-out writes and the WebSocket frame a dashboard receives."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dealpulse_common.events import DealAlert, DealChanged, DealScored, DealVerdict
from dealpulse_gateway.messages import (
    StreamEntry,
    StreamKind,
    client_frame,
    dedupe_key,
    format_stream_id,
    owner_of,
    parse_stream_id,
    stream_entry,
    stream_key,
)
from tests import events

GATEWAY_AT = datetime(2026, 11, 22, 10, 0, 0, 5000, tzinfo=UTC)


@pytest.mark.parametrize(("event", "kind", "model"), [
    (events.scored(), StreamKind.SCORE, DealScored),
    (events.verdict(), StreamKind.VERDICT, DealVerdict),
    (events.alert(), StreamKind.ALERT, DealAlert),
    (events.changed(deleted=True), StreamKind.DELETED, DealChanged),
])
def test_entry_carries_kind_owner_and_the_whole_event(event, kind, model) -> None:  # type: ignore[no-untyped-def]
    entry = stream_entry(event, GATEWAY_AT)
    assert entry is not None
    assert entry.kind is kind and entry.owner_id == "rep-1"
    message = json.loads(entry.message)
    assert list(message) == ["kind", "event", "gateway_at"]
    assert message["kind"] == kind.value
    assert datetime.fromisoformat(message["gateway_at"]) == GATEWAY_AT
    assert model.model_validate(message["event"]) == event  # the CloudEvent round-trips unchanged
    assert " " not in entry.message[:20], "messages are compact JSON"


def test_a_live_deals_change_is_not_on_the_stream() -> None:
    # Its score follows and carries the deal; only a deletion, which is never scored, is shown as such.
    assert stream_entry(events.changed(deleted=False), GATEWAY_AT) is None


def test_a_verdict_that_did_not_change_is_not_on_the_stream() -> None:
    unchanged = events.verdict()
    unchanged.data.changed = False
    assert stream_entry(unchanged, GATEWAY_AT) is None
    assert stream_entry(events.verdict(), GATEWAY_AT) is not None


def test_owner_comes_from_each_event_type() -> None:
    assert owner_of(events.scored(owner_id="a")) == "a"
    assert owner_of(events.verdict(owner_id="b")) == "b"
    assert owner_of(events.alert(owner_id="c")) == "c"
    assert owner_of(events.changed(owner_id="d", deleted=True)) == "d"
    assert owner_of(events.scored(owner_id=None)) is None


def test_fields_round_trip_and_unknown_owner_is_empty() -> None:
    entry = stream_entry(events.verdict(owner_id=None), GATEWAY_AT)
    assert entry is not None
    fields = entry.fields()
    assert fields["owner"] == "" and fields["kind"] == "verdict"
    assert StreamEntry.from_fields(fields) == entry


def test_client_frame_puts_the_stream_id_first_and_keeps_the_message() -> None:
    entry = stream_entry(events.scored(), GATEWAY_AT)
    assert entry is not None
    frame = json.loads(client_frame("1700000000000-3", entry.message))
    assert list(frame) == ["id", "kind", "event", "gateway_at"]
    assert frame["id"] == "1700000000000-3"
    assert {k: v for k, v in frame.items() if k != "id"} == json.loads(entry.message)


@pytest.mark.parametrize("bad", ["", "{}", "[1]"])
def test_client_frame_refuses_non_objects(bad: str) -> None:
    with pytest.raises(ValueError):
        client_frame("1-0", bad)


def test_keys_are_per_tenant_and_share_a_cluster_slot() -> None:
    assert stream_key("acme") == "dealpulse:stream:{acme}"
    assert stream_key("acme") != stream_key("globex")
    key = dedupe_key("acme", StreamKind.SCORE, "e1")
    assert "{acme}" in key and key != dedupe_key("acme", StreamKind.VERDICT, "e1")


@pytest.mark.parametrize(("raw", "parsed"), [
    ("1700000000000-3", (1700000000000, 3)), ("1700000000000", (1700000000000, 0)), ("0", (0, 0)), ("0-0", (0, 0)),
])
def test_stream_ids_parse(raw: str, parsed: tuple[int, int]) -> None:
    assert parse_stream_id(raw) == parsed
    assert parse_stream_id(format_stream_id(parsed)) == parsed


@pytest.mark.parametrize("raw", ["$", ">", "-", "+", "abc", "1-2-3", "-1", "1-", " 1-0", "1" * 21])
def test_invalid_stream_ids_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_stream_id(raw)
