"""The one fold from a deal's changes to its history: what is known, what is not, and what the CRM says."""

from datetime import UTC, datetime, timedelta

from dealpulse_common.history import DealReplay, HistoryState, merge_snapshot

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def _day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def _iso(n: float) -> str:
    return _day(n).isoformat()


def _created_and_watched() -> DealReplay:
    deal = DealReplay()
    deal.apply({"stage": "prospecting", "amount": 10_000.0, "created_at": _iso(0), "expected_close_date": "2026-11-01",
                "last_activity_at": _iso(0)}, _day(0))
    return deal


def test_a_deal_watched_from_its_creation_has_every_count_known() -> None:
    deal = _created_and_watched()
    history = deal.history(_day(0))
    assert (history.close_date_push_count, history.amount_change_count, history.activity_count_30d) == (0, 0, 1)
    assert history.stage_entered_at == _day(0)
    deal.apply({"expected_close_date": "2026-11-20", "amount": 12_000.0}, _day(5))
    deal.apply({"expected_close_date": "2026-11-10"}, _day(6))  # pulled in: not a push
    deal.apply({"stage": "discovery", "last_activity_at": _iso(7)}, _day(7))
    history = deal.history(_day(7))
    assert (history.close_date_push_count, history.amount_change_count, history.activity_count_30d) == (1, 1, 2)
    assert history.stage_entered_at == _day(7) and history.days_since_last_activity == 0.0
    assert deal.history(_day(31)).activity_count_30d == 1  # the first activity left the window


def test_a_deal_first_seen_mid_life_has_unknown_history_not_zero() -> None:
    deal = DealReplay()
    deal.apply({"stage": "proposal", "created_at": _iso(-90), "expected_close_date": "2026-10-01",
                "last_activity_at": _iso(-2)}, _day(0))
    deal.apply({"expected_close_date": "2026-10-15"}, _day(1))
    history = deal.history(_day(1))
    assert history.close_date_push_count is None and history.amount_change_count is None
    assert history.activity_count_30d is None and history.stage_entered_at is None
    assert history.days_since_last_activity == 3.0
    deal.apply({"stage": "negotiation"}, _day(3))
    assert deal.history(_day(3)).stage_entered_at == _day(3)  # a stage change DealPulse saw
    deal.apply({"last_activity_at": _iso(10)}, _day(10))
    assert deal.history(_day(29)).activity_count_30d is None  # the window still reaches back before first sight
    assert deal.history(_day(30)).activity_count_30d == 1  # watched 30 days: every activity in the window seen


def test_a_last_activity_older_than_the_window_means_no_recent_activity() -> None:
    deal = DealReplay()
    deal.apply({"created_at": _iso(-200), "last_activity_at": _iso(-45)}, _day(0))
    assert deal.history(_day(0)).activity_count_30d == 0


def test_the_crms_history_is_the_base_and_dealpulse_counts_on_from_it() -> None:
    deal = DealReplay()
    deal.apply({"stage": "proposal", "created_at": _iso(-90), "expected_close_date": "2026-10-01", "amount": 5.0,
                "history": {"close_date_push_count": 3, "activity_count_30d": 6, "stage_entered_at": _iso(-20)}},
               _day(0))
    assert "history" not in deal.snapshot
    history = deal.history(_day(0))
    assert (history.close_date_push_count, history.activity_count_30d) == (3, 6)
    assert history.stage_entered_at == _day(-20) and history.amount_change_count is None
    deal.apply({"expected_close_date": "2026-10-20", "last_activity_at": _iso(15)}, _day(15))
    history = deal.history(_day(15))
    assert history.close_date_push_count == 4
    assert history.activity_count_30d == 3 + 1  # half the CRM's window has slid past, plus the one seen
    deal.apply({"expected_close_date": "2026-11-20", "history": {"close_date_push_count": 7}}, _day(16))
    assert deal.history(_day(16)).close_date_push_count == 7  # the CRM's count already includes this push


def test_the_state_survives_its_storage_as_json() -> None:
    deal = _created_and_watched()
    deal.apply({"expected_close_date": "2026-11-30", "last_activity_at": _iso(3)}, _day(3))
    assert HistoryState.from_json(deal.state.to_json()) == deal.state
    assert HistoryState.from_json({}) == HistoryState() == HistoryState.from_json(None)


def test_a_change_merges_over_the_snapshot_and_qualification_per_category() -> None:
    before = {"amount": 1.0, "qualification": {"pain": {"score": 2}}}
    merged = merge_snapshot(before, {"amount": 2.0, "qualification": {"paper": {"score": 1}}, "history": {"x": 1}})
    assert merged == {"amount": 2.0, "qualification": {"pain": {"score": 2}, "paper": {"score": 1}}}
