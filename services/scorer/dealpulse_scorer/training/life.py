"""A synthetic deal's life: the changes its CRM makes, the deliveries DealPulse receives of them, and the training
row those deliveries give.

A drawn deal (``DealDraw``: its latent values at the moment it is observed, docs/MODEL.md) becomes a time-ordered
list of canonical changes consistent with those values: creation, stage moves ending in the current stage, close-date
pushes, amount changes, activities, qualification reviews, a forecast call and, for a deal that closes, its close.
DealPulse sees them only from its tenant's connection on: a deal created earlier arrives as one sync delivery of its
state then, and every delivery carries the history values its tenant's CRM sends (``CrmKind.sends``). A training row
is ``DealReplay`` over the deliveries up to the observation moment — the fold ingest applies to live traffic — so a
row and the scorer's view of the same deliveries agree by construction.

Serving-safe (numpy only, via ``world``).
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dealpulse_common.deal import OPEN_STAGES, ForecastCategory, Stage
from dealpulse_common.history import ACTIVITY_WINDOW, HISTORY_KEY, DealReplay, merge_snapshot
from dealpulse_scorer.training.dataset import replay_row
from dealpulse_scorer.training.world import CRM_STAGE_NAMES, Rep, TenantProfile

FORECASTS = (ForecastCategory.OMITTED, ForecastCategory.PIPELINE, ForecastCategory.BEST_CASE, ForecastCategory.COMMIT)
_EARLIER_EVIDENCE = ("none", "weak", "moderate")
TICK = timedelta(milliseconds=1)  # a deal's changes are strictly ordered in time, as a CRM's modification times are


@dataclass(frozen=True)
class Delivery:
    """One change as DealPulse receives it: canonical, JSON-ready, at the CRM's modification time."""

    modified_at: datetime
    change: dict[str, Any]


@dataclass(frozen=True)
class DealDraw:
    """One deal's drawn values (docs/MODEL.md, section 1). Times are days after ``created_at``; ``age`` is the
    observation moment, ``actual_cycle`` the close (a deal open at the data set's "now" closes after it)."""

    tenant: TenantProfile
    rep: Rep
    deal_id: str
    name: str
    account_name: str
    segments: Mapping[str, str]  # industry, region, product_type, lead_source
    created_at: datetime
    age: float
    actual_cycle: float
    closed: bool
    won: bool
    amount: float
    amount_changes: int
    stage: int
    days_in_stage: float
    expected_base: float  # the close date set at creation
    early_pushes: int
    early_step: float
    overrun_steps: tuple[float, ...]
    activity_30d: int
    never_active: bool
    days_since_activity: float
    older_activities: int
    qualification: Mapping[str, Mapping[str, Any]]
    forecast: int  # index into FORECASTS


@dataclass(frozen=True)
class DealLife:
    draw: DealDraw
    crm_changes: tuple[Delivery, ...]  # every change the CRM made, as it made it (no history attached)
    deliveries: tuple[Delivery, ...]  # what DealPulse receives: a sync at the connection, then every change
    observed_until: datetime  # a row shows the deal as of its last delivery up to here
    closed_at: datetime | None  # None: open at the data set's "now"

    @property
    def deal_id(self) -> str:
        return self.draw.deal_id


def iso(moment: datetime) -> str:
    """An instant as ingest stores it (pydantic's JSON form of a UTC time)."""
    return moment.isoformat().replace("+00:00", "Z")


def stage_change(stage: Stage) -> dict[str, Any]:
    """A move to an open ``stage`` as ingest records it from the CRM's stage name."""
    return {"stage": stage.value, "crm_stage": CRM_STAGE_NAMES[stage], "stage_unmapped": False, "is_closed": False}


def close_change(won: bool, closed_at: datetime) -> dict[str, Any]:
    stage = Stage.CLOSED_WON if won else Stage.CLOSED_LOST
    return {"stage": stage.value, "crm_stage": CRM_STAGE_NAMES[stage], "stage_unmapped": False, "is_closed": True,
            "is_won": won, "closed_at": iso(closed_at), "forecast_category": ForecastCategory.CLOSED.value}


@dataclass
class _Timeline:
    draw: DealDraw
    rnd: random.Random
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def at(self, days: float, change: dict[str, Any]) -> None:
        self.events.append((days, change))

    def moment(self, days: float) -> datetime:
        return self.draw.created_at + timedelta(days=days)

    def day(self, days: float) -> str:
        return self.moment(days).date().isoformat()


def _creation(t: _Timeline, first_stage: Stage, amount: float) -> dict[str, Any]:
    d = t.draw
    forecast = ForecastCategory.OMITTED if d.forecast == 0 else ForecastCategory.PIPELINE
    return {
        "name": d.name, "account_name": d.account_name, "amount": amount, "currency": "USD",
        **stage_change(first_stage), "forecast_category": forecast.value, **d.segments,
        "owner_id": d.rep.owner_id, "owner_name": d.rep.name, "manager_id": d.rep.manager_id,
        "created_at": iso(d.created_at), "expected_close_date": t.day(d.expected_base),
        "qualification": {}, "custom": {},
    }


def _stages(t: _Timeline) -> Stage:
    """Moves through the open stages, the last into the current one at ``age − days_in_stage``; the first stage."""
    d = t.draw
    entered = d.age - d.days_in_stage
    if d.stage == 0 or entered <= 0:
        return OPEN_STAGES[d.stage]
    moves = [*sorted(t.rnd.uniform(0, entered) for _ in range(d.stage - 1)), entered]
    for index, days in enumerate(moves, start=1):
        t.at(days, stage_change(OPEN_STAGES[index]))
    return OPEN_STAGES[0]


def _close_dates(t: _Timeline) -> None:
    """Early pushes before the planned date passes, then one push shortly after each overrun date."""
    d = t.draw
    expected = d.expected_base
    for days in sorted(t.rnd.uniform(0, min(d.age, expected)) for _ in range(d.early_pushes)):
        expected += d.early_step
        t.at(days, {"expected_close_date": t.day(expected)})
    for step in d.overrun_steps:
        days = min(expected + t.rnd.uniform(0, 5), (expected + d.age) / 2)
        expected += step
        t.at(days, {"expected_close_date": t.day(expected)})


def _amounts(t: _Timeline) -> float:
    """Amount changes ending at the drawn amount; the amount at creation."""
    d = t.draw
    values = [d.amount]
    for _ in range(d.amount_changes):
        earlier = max(1000.0, round(values[-1] / t.rnd.uniform(0.8, 1.25), -2))
        values.append(earlier if earlier != values[-1] else values[-1] + 100.0)
    values.reverse()
    for days, value in zip(sorted(t.rnd.uniform(0, d.age) for _ in range(d.amount_changes)), values[1:],
                           strict=True):
        t.at(days, {"amount": value})
    return values[0]


def _activities(t: _Timeline) -> None:
    """``activity_30d`` activities in the 30 days before ``age``, the last ``days_since_activity`` before it, and
    ``older_activities`` before those."""
    d = t.draw
    if d.never_active:
        return
    last = d.age - d.days_since_activity
    window_start = max(0.0, d.age - ACTIVITY_WINDOW.days)
    recent = [t.rnd.uniform(window_start, last) for _ in range(max(0, d.activity_30d - 1))]
    older_until = min(window_start, last)
    older = [t.rnd.uniform(0, older_until) for _ in range(d.older_activities)] if older_until > 0 else []
    for days in (*older, *recent, last):
        t.at(days, {"last_activity_at": iso(t.moment(days))})


def _qualification(t: _Timeline) -> None:
    """A first review of some categories one score lower, then the review that records the drawn entries."""
    d = t.draw
    if not d.qualification:
        return
    final_at = d.age * t.rnd.uniform(0.6, 1.0)
    earlier = {
        category: {"score": entry["score"] - 1, "evidence_strength": _EARLIER_EVIDENCE[entry["score"] - 1],
                   "confidence": "low", "note": None}
        for category, entry in d.qualification.items() if entry["score"] >= 1 and t.rnd.random() < 0.5
    }
    if earlier:
        t.at(final_at * t.rnd.uniform(0.2, 0.8), {"qualification": earlier})
    t.at(final_at, {"qualification": {c: {**e, "note": None} for c, e in d.qualification.items()}})


def crm_changes(draw: DealDraw, rnd: random.Random) -> list[Delivery]:
    """Every change the deal's CRM makes, in time order (strictly increasing modification times)."""
    t = _Timeline(draw, rnd)
    first_stage = _stages(t)
    _close_dates(t)
    amount = _amounts(t)
    _activities(t)
    _qualification(t)
    if draw.forecast >= 2:
        t.at(draw.age * rnd.uniform(0.5, 1.0), {"forecast_category": FORECASTS[draw.forecast].value})
    if draw.closed:
        if rnd.random() < 0.5:
            days = rnd.uniform(draw.age, draw.actual_cycle)
            t.at(days, {"last_activity_at": iso(t.moment(days))})
        t.at(draw.actual_cycle, close_change(draw.won, t.moment(draw.actual_cycle)))
    t.events.sort(key=lambda event: event[0])  # stable: the creation (added first) stays first
    changes = [Delivery(draw.created_at, _creation(t, first_stage, amount))]
    for days, change in t.events:
        changes.append(Delivery(max(t.moment(days), changes[-1].modified_at + TICK), change))
    return changes


@dataclass
class _CrmHistory:
    """What the CRM itself knows of the deal's past at a moment (the values of ``HISTORY_INPUTS``)."""

    stage_entered_at: datetime
    pushes: int = 0
    amount_changes: int = 0
    activity_at: list[datetime] = field(default_factory=list)

    def record(self, delivery: Delivery, created: bool) -> None:
        change = delivery.change
        if "stage" in change and not created:
            self.stage_entered_at = delivery.modified_at
        self.pushes += int("expected_close_date" in change and not created)
        self.amount_changes += int("amount" in change and not created)
        if "last_activity_at" in change:
            self.activity_at.append(datetime.fromisoformat(change["last_activity_at"]))

    def values(self, moment: datetime, sends: frozenset[str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if "stage_entered_at" in sends:
            values["stage_entered_at"] = iso(self.stage_entered_at)
        if "close_date_push_count" in sends:
            values["close_date_push_count"] = self.pushes
        if "amount_change_count" in sends:
            values["amount_change_count"] = self.amount_changes
        if "activity_count_30d" in sends:
            values["activity_count_30d"] = (bisect.bisect_right(self.activity_at, moment)
                                            - bisect.bisect_right(self.activity_at, moment - ACTIVITY_WINDOW))
        return values


def _with_history(change: dict[str, Any], history: dict[str, Any]) -> dict[str, Any]:
    return {**change, HISTORY_KEY: history} if history else change


def received(changes: list[Delivery], profile: TenantProfile, connected_at: datetime,
             closed_at: datetime | None) -> list[Delivery]:
    """The deliveries DealPulse receives of ``changes``: nothing before ``connected_at``; a deal created before it
    and still open then arrives as one sync of its state at ``connected_at``; each delivery carries the CRM's
    history values of the fields ``profile``'s CRM sends."""
    sends = profile.crm.sends
    crm = _CrmHistory(stage_entered_at=changes[0].modified_at)
    before: dict[str, Any] = {}  # the CRM's record as of the connection, of a deal created before it
    deliveries: list[Delivery] = []
    for index, delivery in enumerate(changes):
        if delivery.modified_at >= connected_at and before:
            deliveries.append(Delivery(connected_at, _with_history(before, crm.values(connected_at, sends))))
            before = {}
        crm.record(delivery, created=index == 0)
        if delivery.modified_at < connected_at:
            before = merge_snapshot(before, delivery.change)
            continue
        deliveries.append(Delivery(delivery.modified_at,
                                   _with_history(delivery.change, crm.values(delivery.modified_at, sends))))
    if before and closed_at is None:  # open, and unchanged since before the connection
        deliveries.append(Delivery(connected_at, _with_history(before, crm.values(connected_at, sends))))
    return deliveries


def deal_life(draw: DealDraw, anchor: datetime, rnd: random.Random) -> DealLife:
    changes = crm_changes(draw, rnd)
    closed_at = changes[-1].modified_at if draw.closed else None
    connected_at = anchor - timedelta(days=draw.tenant.connected_days_ago)
    observed_until = draw.created_at + timedelta(days=draw.age) if draw.closed else anchor
    return DealLife(draw, tuple(changes), tuple(received(changes, draw.tenant, connected_at, closed_at)),
                    observed_until, closed_at)


def replay(deliveries: Iterable[Delivery], until: datetime) -> DealReplay | None:
    """The deal as ingest folds its deliveries up to ``until``; None when DealPulse saw none by then."""
    folded = DealReplay()
    for delivery in deliveries:
        if delivery.modified_at > until:
            break
        folded.apply(delivery.change, delivery.modified_at)
    return folded if folded.modified_at is not None else None


def training_row(life: DealLife) -> dict[str, Any] | None:
    """The deal as the scorer scored it at its last delivery up to ``observed_until`` (``as_of``), with its
    outcome; None when DealPulse had not seen it by then (not a row)."""
    folded = replay(life.deliveries, life.observed_until)
    if folded is None or folded.modified_at is None:
        return None
    outcome = (life.draw.won, life.closed_at) if life.closed_at is not None else None
    return replay_row(life.draw.tenant.tenant_id, life.deal_id, folded, folded.modified_at, outcome)
