"""Ingest's pure rules: event ids, what a change changed, and a stored row as the canonical deal."""

from datetime import UTC, datetime, timedelta

from dealpulse_ingest.handlers import IncomingChange, changed_fields, deal_changed, event_id_for, folded, is_stale

AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _change(**overrides: object) -> IncomingChange:
    fields: dict = {"tenant_id": "t", "deal_id": "D1", "event_id": "e-1", "provider": "generic", "modified_at": AT,
                    "changes": {"stage": "proposal", "amount": 5.0}, "traceparent": "00-" + "1" * 32 + "-" + "2" * 16
                    + "-01", "received_at": AT, **overrides}
    return IncomingChange(**fields)


def test_the_crms_own_event_id_wins_else_a_digest_of_tenant_and_body() -> None:
    assert event_id_for("t", "crm-7", b"{}") == "crm-7"
    digest = event_id_for("t", None, b"{}")
    assert digest.startswith("sha256:") and digest == event_id_for("t", None, b"{}")
    assert digest != event_id_for("u", None, b"{}")


def test_a_deletion_or_a_restore_changes_only_that() -> None:
    assert changed_fields(_change()) == ["amount", "stage"]
    assert changed_fields(_change(deleted=True)) == ["deleted"]
    assert changed_fields(_change(restored=True)) == ["restored"]


def test_the_event_carries_the_folded_snapshot_and_its_history() -> None:
    created = _change(changes={"stage": "proposal", "amount": 5.0, "created_at": (AT - timedelta(hours=1)).isoformat(),
                               "expected_close_date": "2026-12-01",
                               "last_activity_at": (AT - timedelta(days=2)).isoformat()})
    row = folded(None, created)
    pushed = _change(event_id="e-2", modified_at=AT + timedelta(days=1),
                     changes={"expected_close_date": "2026-12-20", "amount": 6.0})
    assert not is_stale({**row, "deleted_at": None}, pushed)
    row = folded({**row, "deleted_at": None}, pushed)
    event = deal_changed(pushed, row)
    assert event.id == "t:e-2" and event.tenantid == "t" and event.dealid == "D1"
    deal = event.data.deal
    assert deal.amount == 6.0 and deal.history.activity_count_30d == 1
    assert deal.history.days_since_last_activity == 3.0 and deal.history.close_date_push_count == 1
    assert deal.history.amount_change_count == 1 and deal.history.stage_entered_at == AT
    assert event.data.changed_fields == ["amount", "expected_close_date"] and not event.data.deleted


def test_an_older_change_or_one_to_a_deleted_deal_is_stale_and_an_equal_time_applies() -> None:
    stored = {"snapshot": {}, "source_modified_at": AT, "history_state": {}, "deleted_at": None}
    assert is_stale(stored, _change(modified_at=AT - timedelta(seconds=1)))
    assert not is_stale(stored, _change(modified_at=AT)) and not is_stale(None, _change())
    assert is_stale({**stored, "deleted_at": AT}, _change(modified_at=AT + timedelta(days=1)))
