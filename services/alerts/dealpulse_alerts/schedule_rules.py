"""When something may reach a user, in the user's own zone. Pure rules, no I/O; the clock is always passed in.

Quiet hours defer, never drop: a delivery due inside the window waits for its end. Digests and summaries are due
once per period (a local day, an ISO week) from their local time on; the period is the key that lets one replica,
once, send it, and a period missed while the service was down is still due when it is back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dealpulse_common.alert_settings import QuietHours

SUMMARY_WEEKDAY = 0  # Monday
SUMMARY_TIME = time(9, 0)


def local_moment(day: date, at: time, zone: ZoneInfo) -> datetime:
    """``day`` at wall time ``at`` in ``zone``, in UTC. A wall time that happens twice (the autumn night) is its
    first occurrence; one the spring change skips is read with the offset before the change (02:30 → 03:30)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def quiet_until(now: datetime, quiet: QuietHours | None, zone: ZoneInfo) -> datetime | None:
    """The end of the quiet window ``now`` falls in (UTC), or None when ``now`` is outside quiet hours."""
    if quiet is None:
        return None
    local = now.astimezone(zone)
    today = local.date()
    clock = local.time().replace(tzinfo=None)
    if quiet.start < quiet.end:  # a window inside one day, e.g. 12:00 → 13:00
        inside, ends_on = quiet.start <= clock < quiet.end, today
    elif clock >= quiet.start:  # across midnight, before it: ends tomorrow morning
        inside, ends_on = True, today + timedelta(days=1)
    else:  # across midnight, after it: ends this morning
        inside, ends_on = clock < quiet.end, today
    if not inside:
        return None
    end = local_moment(ends_on, quiet.end, zone)
    return end if end > now else None


def deliver_after(now: datetime, quiet: QuietHours | None, zone: ZoneInfo) -> datetime:
    return quiet_until(now, quiet, zone) or now


@dataclass(frozen=True)
class DuePeriod:
    key: str  # '2026-12-07' or '2026-W50'
    due_at: datetime  # UTC


def due_digest(now: datetime, at: time, zone: ZoneInfo) -> DuePeriod:
    """The latest daily digest period whose local time has come: today's once ``at`` passed, else yesterday's."""
    today = now.astimezone(zone).date()
    for day in (today, today - timedelta(days=1)):
        due_at = local_moment(day, at, zone)
        if due_at <= now:
            return DuePeriod(day.isoformat(), due_at)
    raise AssertionError("yesterday's digest time is always in the past")  # pragma: no cover


def due_summary(now: datetime, zone: ZoneInfo) -> DuePeriod:
    """The latest weekly summary period (Monday 09:00 local) that has come."""
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=(today.weekday() - SUMMARY_WEEKDAY) % 7)
    for day in (monday, monday - timedelta(days=7)):
        due_at = local_moment(day, SUMMARY_TIME, zone)
        if due_at <= now:
            year, week, _ = day.isocalendar()
            return DuePeriod(f"{year}-W{week:02d}", due_at)
    raise AssertionError("last week's summary time is always in the past")  # pragma: no cover
