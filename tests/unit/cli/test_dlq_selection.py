"""Which dead letters ``dealpulse dlq list`` and ``replay`` select, and how times are given (pure, no broker; the
commands themselves run against a real broker in tests/integration/test_dlq_cli.py)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from dealpulse_cli.dlq import REPLAYABLE, Selection, full_text, moment
from dealpulse_common.topics import DEAD_LETTERS, DEAL_CHANGED
from tests import events

FAILED_AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_a_letter_is_kept_only_when_every_filter_given_matches() -> None:
    letter = events.dead_letter_event("acme", "D1", original_topic=DEAL_CHANGED.name, service="scorer",
                                      error="cannot parse as DealChanged: invalid JSON", failed_at=FAILED_AT)
    assert Selection().keeps(letter)
    assert Selection(topic=DEAL_CHANGED.name, reason="CANNOT parse", service="scorer", tenant="acme",
                     since=FAILED_AT, until=FAILED_AT + timedelta(seconds=1), ids=frozenset({letter.id})).keeps(letter)
    for miss in (Selection(topic="deal.scored.v1"), Selection(reason="timeout"), Selection(service="verdict"),
                 Selection(tenant="other"), Selection(since=FAILED_AT + timedelta(seconds=1)),
                 Selection(until=FAILED_AT), Selection(ids=frozenset({"another-id"}))):
        assert not miss.keeps(letter), miss


def test_times_are_durations_ago_or_iso_8601_in_utc_unless_they_say_otherwise() -> None:
    assert abs(moment("2h") - (datetime.now(UTC) - timedelta(hours=2))) < timedelta(seconds=5)
    assert abs(moment("90s") - (datetime.now(UTC) - timedelta(seconds=90))) < timedelta(seconds=5)
    assert moment("2026-11-22T10:00:00") == FAILED_AT
    assert moment("2026-11-22T11:00:00+01:00") == FAILED_AT
    with pytest.raises(argparse.ArgumentTypeError):
        moment("yesterday")


def test_only_topics_of_the_registry_are_replayed_and_never_the_dead_letter_topic_itself() -> None:
    assert DEAL_CHANGED.name in REPLAYABLE
    assert DEAD_LETTERS.name not in REPLAYABLE and "webhook:hubspot" not in REPLAYABLE


def test_show_decodes_a_json_original_and_says_when_the_bytes_are_not_text() -> None:
    json_letter = events.dead_letter_event(original_value_b64="eyJhIjogMX0=")  # {"a": 1}
    binary_letter = events.dead_letter_event(original_value_b64="/wA=")  # 0xff 0x00
    assert '"original": {\n    "a": 1\n  }' in full_text(json_letter)
    assert '"original_text": null' in full_text(binary_letter)
