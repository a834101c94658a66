"""Training rows from ingest's record of applied changes: the moments deals are observed, and what is left out."""

from datetime import UTC, date, datetime, timedelta

from dealpulse_scorer.training.dataset import row_to_deal
from dealpulse_scorer.training.from_store import (
    OBSERVED_FROM,
    OBSERVED_UNTIL,
    ExportSummary,
    LoggedChange,
    deal_row,
    observation_fraction,
    training_rows,
)

T0 = datetime(2026, 6, 1, tzinfo=UTC)
EXPORTED_AT = datetime(2026, 11, 1, tzinfo=UTC)


def _at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def _change(days: float, **changes: object) -> LoggedChange:
    return LoggedChange(_at(days), dict(changes), sorted(changes))


def _life(won: bool, close_day: float = 100) -> list[LoggedChange]:
    return [
        _change(0, stage="prospecting", amount=10_000.0, created_at=_at(0).isoformat(),
                expected_close_date="2026-08-01", is_closed=False),
        *[_change(day, expected_close_date=(date(2026, 8, 1) + timedelta(days=day)).isoformat())
          for day in range(10, 91, 10)],
        _change(close_day, stage="closed_won" if won else "closed_lost", is_closed=True, is_won=won),
    ]


def test_a_closed_deal_is_observed_mid_life_with_nothing_from_after_that_moment() -> None:
    row = deal_row("t", "D-1", _life(won=True), as_of=EXPORTED_AT, since=None)
    assert isinstance(row, dict)
    deal, as_of, outcome = row_to_deal(row)
    u = observation_fraction("t", "D-1")
    observed = _at(0) + u * timedelta(days=100)
    last_change_before = max(c.modified_at for c in _life(won=True) if c.modified_at <= observed)
    assert OBSERVED_FROM <= u < OBSERVED_UNTIL and as_of == last_change_before  # as the scorer scored it then
    assert outcome is True and deal.closed_at == _at(100) and deal.stage == "prospecting"
    assert deal.source_modified_at == as_of
    pushes_before = sum(1 for d in range(10, 91, 10) if _at(d) <= as_of)
    assert deal.history.close_date_push_count == pushes_before  # watched from creation: known, and only the past


def test_an_open_deal_is_observed_at_the_export_moment() -> None:
    row = deal_row("t", "D-2", _life(won=False)[:-1], as_of=EXPORTED_AT, since=None)
    assert isinstance(row, dict)
    deal, as_of, outcome = row_to_deal(row)
    assert as_of == _at(90) and outcome is None and deal.history.close_date_push_count == 9


def test_deals_without_a_usable_past_are_left_out_and_counted_by_reason() -> None:
    deleted = [*_life(won=True)[:3], LoggedChange(_at(40), {}, ["deleted"])]
    restored = [*deleted, LoggedChange(_at(41), {}, ["restored"])]
    seen_closed = [_change(5, stage="closed_lost", is_closed=True, is_won=False, created_at=_at(0).isoformat())]
    old = [LoggedChange(_at(1), None, ["amount"]), *_life(won=True)[1:]]
    logs = [("won", _life(won=True)), ("deleted", deleted), ("restored", restored), ("seen-closed", seen_closed),
            ("old", old), ("early", _life(won=False, close_day=100))]
    summary = ExportSummary()
    rows = list(training_rows("t", logs, as_of=EXPORTED_AT, since=date(2026, 10, 1), summary=summary))
    assert [r["deal_id"] for r in rows] == ["restored"]
    assert summary.to_dict() == {"rows": 1, "closed": 0, "open": 1, "excluded": {
        "closed before --since": 2, "deleted in the CRM": 1, "never seen open": 1,
        "changes recorded before history replay was kept": 1}}
