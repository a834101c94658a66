"""What DealPulse knows of a deal's past: the one fold from a deal's changes to its ``DealHistory``.

Ingest folds every change it applies into a ``HistoryState`` kept beside the deal's snapshot and reads the deal's
history from it; training folds a recorded (``dealpulse export-training``) or simulated (the synthetic generator)
change sequence with the same two functions, ``apply_change`` and ``history_as_of``, so a deal's features are the
same however it reached the model. The rules (docs/MODEL.md, "History"):

* **The CRM's own history is taken, not re-counted.** A change may carry ``history``: the CRM's values of
  ``HISTORY_INPUTS`` as of the change. They replace what DealPulse counted so far, and its own counting continues
  from there.
* **Unknown is not zero.** A count DealPulse did not watch from the deal's creation (first seen mid-life) and the
  CRM never sent stays None, and so does the time in stage of a deal first seen in its stage. The 30-day activity
  count becomes known once DealPulse has watched the deal for 30 days, or when its last activity is older than that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from dealpulse_common.deal import DealHistory

# The history fields a CRM may send with a change (the generic webhook's ``history`` object).
HISTORY_INPUTS: tuple[str, ...] = ("stage_entered_at", "close_date_push_count", "amount_change_count",
                                   "activity_count_30d")
HISTORY_KEY = "history"  # where a canonical change carries the CRM's history values
# First seen this soon after its creation, DealPulse has seen every change of the deal.
WATCHED_FROM_CREATION = timedelta(days=1)
ACTIVITY_WINDOW = timedelta(days=30)


def _instant(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass(frozen=True)
class Count:
    """A count DealPulse keeps: the CRM's last value (``base``, None if it never sent one) plus what DealPulse
    observed since."""

    base: int | None = None
    observed: int = 0

    def value(self, watched_from_creation: bool) -> int | None:
        if self.base is not None:
            return self.base + self.observed
        return self.observed if watched_from_creation else None

    def step(self, crm_value: Any, happened: bool) -> Count:
        if crm_value is not None:
            return Count(int(crm_value), 0)  # the CRM's count already includes this change
        return Count(self.base, self.observed + int(happened)) if happened else self


@dataclass(frozen=True)
class HistoryState:
    """What DealPulse remembers of a deal's past to keep counting (stored as JSON beside the snapshot)."""

    first_seen_at: datetime | None = None
    stage_entered_at: datetime | None = None
    close_date_pushes: Count = Count()
    amount_changes: Count = Count()
    activity_baseline: int | None = None  # the CRM's 30-day activity count ...
    activity_baseline_at: datetime | None = None  # ... as of this moment
    activity_at: tuple[datetime, ...] = field(default_factory=tuple)  # activities seen, the last window's only

    def to_json(self) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment is not None else None

        return {
            "first_seen_at": iso(self.first_seen_at), "stage_entered_at": iso(self.stage_entered_at),
            "close_date_pushes": [self.close_date_pushes.base, self.close_date_pushes.observed],
            "amount_changes": [self.amount_changes.base, self.amount_changes.observed],
            "activity_baseline": self.activity_baseline, "activity_baseline_at": iso(self.activity_baseline_at),
            "activity_at": [a.isoformat() for a in self.activity_at],
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any] | None) -> HistoryState:
        if not payload:
            return cls()
        pushes, amounts = payload.get("close_date_pushes", [None, 0]), payload.get("amount_changes", [None, 0])
        return cls(
            first_seen_at=_instant(payload.get("first_seen_at")),
            stage_entered_at=_instant(payload.get("stage_entered_at")),
            close_date_pushes=Count(pushes[0], pushes[1]), amount_changes=Count(amounts[0], amounts[1]),
            activity_baseline=payload.get("activity_baseline"),
            activity_baseline_at=_instant(payload.get("activity_baseline_at")),
            activity_at=tuple(a for a in (_instant(v) for v in payload.get("activity_at", [])) if a is not None),
        )


def merge_snapshot(before: Mapping[str, Any] | None, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The stored snapshot after a change: its fields over the old ones, qualification merged per category."""
    old = dict(before or {})
    merged = {**old, **{k: v for k, v in changes.items() if k != HISTORY_KEY}}
    merged["qualification"] = {**(old.get("qualification") or {}), **(changes.get("qualification") or {})}
    return merged


def _pushed(before: Mapping[str, Any], changes: Mapping[str, Any]) -> bool:
    old, new = before.get("expected_close_date"), changes.get("expected_close_date")
    return old is not None and new is not None and str(new)[:10] > str(old)[:10]


def _amount_changed(before: Mapping[str, Any], changes: Mapping[str, Any]) -> bool:
    old, new = before.get("amount"), changes.get("amount")
    return old is not None and new is not None and float(new) != float(old)


def _stage_entered(state: HistoryState, before: Mapping[str, Any], changes: Mapping[str, Any],
                   crm: Mapping[str, Any], modified_at: datetime) -> datetime | None:
    if (given := _instant(crm.get("stage_entered_at"))) is not None:
        return given
    new_stage = changes.get("stage")
    if new_stage is None or new_stage == before.get("stage"):
        return state.stage_entered_at
    # A stage first seen on the deal's first change was entered at a moment DealPulse did not see.
    return modified_at if state.first_seen_at is not None else None


def _activities(state: HistoryState, before: Mapping[str, Any], changes: Mapping[str, Any],
                crm: Mapping[str, Any], modified_at: datetime) -> tuple[tuple[datetime, ...], int | None,
                                                                       datetime | None]:
    activity_at = state.activity_at
    latest, previous = _instant(changes.get("last_activity_at")), _instant(before.get("last_activity_at"))
    if latest is not None and (previous is None or latest > previous):
        activity_at = (*activity_at, latest)
    baseline, baseline_at = state.activity_baseline, state.activity_baseline_at
    if crm.get("activity_count_30d") is not None:
        baseline, baseline_at = int(crm["activity_count_30d"]), modified_at
    horizon = modified_at - ACTIVITY_WINDOW
    return tuple(a for a in activity_at if a > horizon), baseline, baseline_at


def apply_change(snapshot: Mapping[str, Any] | None, state: HistoryState, changes: Mapping[str, Any],
                 modified_at: datetime) -> tuple[dict[str, Any], HistoryState]:
    """The snapshot and history state after one change (``changes`` canonical and JSON-ready, as stored)."""
    before = snapshot or {}
    crm: Mapping[str, Any] = changes.get(HISTORY_KEY) or {}
    activity_at, baseline, baseline_at = _activities(state, before, changes, crm, modified_at)
    new_state = replace(
        state,
        first_seen_at=state.first_seen_at or modified_at,
        stage_entered_at=_stage_entered(state, before, changes, crm, modified_at),
        close_date_pushes=state.close_date_pushes.step(crm.get("close_date_push_count"), _pushed(before, changes)),
        amount_changes=state.amount_changes.step(crm.get("amount_change_count"), _amount_changed(before, changes)),
        activity_baseline=baseline, activity_baseline_at=baseline_at, activity_at=activity_at,
    )
    return merge_snapshot(before, changes), new_state


def watched_from_creation(state: HistoryState, snapshot: Mapping[str, Any]) -> bool:
    created, first_seen = _instant(snapshot.get("created_at")), state.first_seen_at
    return created is not None and first_seen is not None and first_seen - created <= WATCHED_FROM_CREATION


def _activity_count(state: HistoryState, snapshot: Mapping[str, Any], as_of: datetime,
                    from_creation: bool) -> int | None:
    horizon = as_of - ACTIVITY_WINDOW
    since = state.activity_baseline_at
    seen = sum(1 for a in state.activity_at if horizon < a <= as_of and (since is None or a > since))
    if state.activity_baseline is not None and since is not None:
        # The CRM's count fades as its window slides past: evenly spread activities leave it linearly.
        remaining = max(0.0, 1.0 - (as_of - since) / ACTIVITY_WINDOW)
        return round(state.activity_baseline * remaining) + seen
    first_seen = state.first_seen_at
    if from_creation or (first_seen is not None and as_of - first_seen >= ACTIVITY_WINDOW):
        return seen
    last_activity = _instant(snapshot.get("last_activity_at"))
    if last_activity is not None and last_activity <= horizon:
        return 0
    return None


def history_as_of(state: HistoryState, snapshot: Mapping[str, Any], as_of: datetime) -> DealHistory:
    """The deal's history as DealPulse knows it at ``as_of`` (the moment of its last change, when serving)."""
    from_creation = watched_from_creation(state, snapshot)
    stage_entered = state.stage_entered_at
    if stage_entered is None and from_creation and snapshot.get("stage") is not None:
        stage_entered = state.first_seen_at
    last_activity = _instant(snapshot.get("last_activity_at"))
    return DealHistory(
        stage_entered_at=stage_entered,
        close_date_push_count=state.close_date_pushes.value(from_creation),
        amount_change_count=state.amount_changes.value(from_creation),
        activity_count_30d=_activity_count(state, snapshot, as_of, from_creation),
        days_since_last_activity=(
            round((as_of - last_activity).total_seconds() / 86400, 3) if last_activity is not None else None
        ),
    )


@dataclass
class DealReplay:
    """One deal folded change by change, as ingest folds it: what training builds its rows with."""

    snapshot: dict[str, Any] = field(default_factory=dict)
    state: HistoryState = HistoryState()
    modified_at: datetime | None = None

    def apply(self, changes: Mapping[str, Any], modified_at: datetime) -> None:
        self.snapshot, self.state = apply_change(self.snapshot, self.state, changes, modified_at)
        self.modified_at = modified_at

    def history(self, as_of: datetime) -> DealHistory:
        return history_as_of(self.state, self.snapshot, as_of)
