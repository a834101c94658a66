"""Quiet hours and schedule periods in the user's zone, with an injected clock: across midnight and DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from dealpulse_alerts.schedule_rules import deliver_after, due_digest, due_summary, quiet_until
from dealpulse_common.alert_settings import QuietHours

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NIGHT = QuietHours(start=time(22, 0), end=time(7, 0))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(("now", "expected"), [
    (utc(2026, 6, 10, 21, 30), utc(2026, 6, 11, 5, 0)),  # 23:30 CEST, before midnight: ends tomorrow 07:00
    (utc(2026, 6, 10, 1, 0), utc(2026, 6, 10, 5, 0)),  # 03:00 CEST, after midnight: ends this morning
    (utc(2026, 6, 10, 19, 59), None),  # 21:59 CEST: not yet quiet
    (utc(2026, 6, 10, 5, 0), None),  # 07:00 CEST sharp: the window has ended
])
def test_quiet_hours_across_midnight_end_at_the_next_local_end(now: datetime, expected: datetime | None) -> None:
    assert quiet_until(now, NIGHT, BERLIN) == expected


def test_a_window_inside_one_day() -> None:
    lunch = QuietHours(start=time(12, 0), end=time(13, 0))
    assert quiet_until(utc(2026, 1, 5, 11, 30), lunch, BERLIN) == utc(2026, 1, 5, 12, 0)  # 12:30 CET
    assert quiet_until(utc(2026, 1, 5, 12, 30), lunch, BERLIN) is None


def test_the_spring_change_shortens_the_night_in_utc() -> None:
    # Europe/Berlin springs forward on 2026-03-29 at 02:00: 07:00 is then CEST (UTC+2), not CET.
    assert quiet_until(utc(2026, 3, 28, 22, 0), NIGHT, BERLIN) == utc(2026, 3, 29, 5, 0)
    assert quiet_until(utc(2026, 3, 27, 22, 0), NIGHT, BERLIN) == utc(2026, 3, 28, 6, 0)


def test_the_autumn_change_lengthens_it() -> None:
    # America/New_York falls back on 2026-11-01 at 02:00: 07:00 is then EST (UTC-5).
    assert quiet_until(utc(2026, 11, 1, 3, 0), NIGHT, NEW_YORK) == utc(2026, 11, 1, 12, 0)
    assert quiet_until(utc(2026, 10, 31, 3, 0), NIGHT, NEW_YORK) == utc(2026, 10, 31, 11, 0)


def test_a_window_ending_in_the_skipped_hour_ends_after_the_jump() -> None:
    early = QuietHours(start=time(0, 0), end=time(2, 30))  # 02:30 never happens on 2026-03-29 in Berlin
    end = quiet_until(utc(2026, 3, 28, 23, 30), early, BERLIN)
    assert end == utc(2026, 3, 29, 1, 30) and end.astimezone(BERLIN).hour == 3


def test_outside_quiet_hours_a_delivery_goes_now() -> None:
    now = utc(2026, 6, 10, 12, 0)
    assert deliver_after(now, NIGHT, BERLIN) == now
    assert deliver_after(now, None, BERLIN) == now


def test_the_digest_due_is_todays_once_its_local_time_passed_else_yesterdays() -> None:
    before = due_digest(utc(2026, 6, 10, 5, 59), time(8, 0), BERLIN)  # 07:59 CEST
    after = due_digest(utc(2026, 6, 10, 6, 0), time(8, 0), BERLIN)  # 08:00 CEST
    assert (before.key, before.due_at) == ("2026-06-09", utc(2026, 6, 9, 6, 0))
    assert (after.key, after.due_at) == ("2026-06-10", utc(2026, 6, 10, 6, 0))


def test_a_digest_period_is_the_users_local_day() -> None:
    # 02:00 UTC on the 10th is still the 9th in New York (22:00 EDT): the 9th's 08:00 digest is the one due.
    assert due_digest(utc(2026, 6, 10, 2, 0), time(8, 0), NEW_YORK).key == "2026-06-09"


def test_the_weekly_summary_is_due_from_monday_nine_local() -> None:
    monday_858 = due_summary(utc(2026, 12, 7, 7, 58), BERLIN)  # Monday 08:58 CET
    monday_900 = due_summary(utc(2026, 12, 7, 8, 0), BERLIN)
    sunday = due_summary(utc(2026, 12, 13, 20, 0), BERLIN)
    assert monday_858.key == "2026-W49" and monday_900.key == "2026-W50" and sunday.key == "2026-W50"
    assert monday_900.due_at == utc(2026, 12, 7, 8, 0)
