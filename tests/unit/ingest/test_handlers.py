"""Ingest's pure rules: event ids, what a change changed, and a stored row as the canonical deal."""

from datetime import UTC, datetime, timedelta

from dealpulse_ingest.handlers import IncomingChange, changed_fields, deal_changed, event_id_for

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


def test_the_event_carries_the_stored_snapshot_and_its_history() -> None:
    row = {"snapshot": {"stage": "proposal", "amount": 5.0, "last_activity_at": (AT - timedelta(days=2)).isoformat()},
           "source_modified_at": AT, "activity_at": [AT - timedelta(days=40), AT - timedelta(days=2)],
           "stage_entered_at": AT, "close_date_push_count": 1, "amount_change_count": 2}
    event = deal_changed(_change(), row)
    assert event.id == "t:e-1" and event.tenantid == "t" and event.dealid == "D1"
    deal = event.data.deal
    assert deal.amount == 5.0 and deal.history.activity_count_30d == 1
    assert deal.history.days_since_last_activity == 2.0 and deal.history.close_date_push_count == 1
    assert event.data.changed_fields == ["amount", "stage"] and not event.data.deleted
