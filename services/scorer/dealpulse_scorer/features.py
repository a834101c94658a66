"""Point-in-time features of a deal: the one vector the model, its explanations and its drift checks all share.

Serving-safe: numpy and dealpulse_common only. Every feature is computed from what was known at ``as_of``;
outcome fields (``is_won``, ``is_closed``, ``closed_at``) are never read, and closed stages or the ``closed``
forecast category map to the same "unknown" value, so a closed deal cannot reveal how it ended.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

import numpy as np

from dealpulse_common.deal import (
    COMMIT_GATES,
    OPEN_STAGES,
    CanonicalDeal,
    Confidence,
    ForecastCategory,
    QualificationCategory,
)

# Bumped whenever a feature's meaning changes, so a model trained on the old meaning is refused, not misread.
# 2: history DealPulse does not have is UNKNOWN (it was 0, and time in stage fell back to the deal's age).
FEATURE_VERSION = 2

FeatureKind = Literal["numeric", "count", "ordinal", "flag", "score", "prior"]

# Sentinels, documented in docs/MODEL.md. Trees split them off cleanly; explanations treat them like any value.
UNKNOWN = -1.0  # unknown stage / forecast call / qualification score / history DealPulse does not have
NO_ACTIVITY_DAYS = 365.0  # no activity ever logged; also the cap on days since last activity
DAYS_CAP = 730.0  # clip day counts so one absurd date cannot dominate
NO_CLOSE_DATE_DAYS = 365.0  # a deal without an expected close date is treated as far from closing

SEGMENT_DIMENSIONS: tuple[str, ...] = ("industry", "product_type", "lead_source", "region")
FORECAST_ORDINAL: dict[ForecastCategory, float] = {
    ForecastCategory.OMITTED: 0.0,
    ForecastCategory.PIPELINE: 1.0,
    ForecastCategory.BEST_CASE: 2.0,
    ForecastCategory.COMMIT: 3.0,
}


@dataclass(frozen=True)
class FeatureSpec:
    """One model input. ``group`` names the feature an explanation moves it with (itself for most)."""

    name: str
    label: str
    kind: FeatureKind
    group: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "label": self.label, "kind": self.kind, "group": self.group}


def _spec(name: str, label: str, kind: FeatureKind, group: str | None = None) -> FeatureSpec:
    return FeatureSpec(name, label, kind, group or name)


FEATURES: tuple[FeatureSpec, ...] = (
    _spec("log_amount", "Deal size", "numeric"),
    _spec("deal_age_days", "Deal age", "numeric"),
    _spec("days_in_stage", "Time in current stage", "numeric"),
    _spec("stage_ordinal", "Pipeline stage", "ordinal"),
    _spec("forecast_ordinal", "Rep's forecast call", "ordinal"),
    _spec("close_date_push_count", "Close date pushes", "count"),
    _spec("amount_change_count", "Amount changes", "count"),
    _spec("activity_count_30d", "Activity in the last 30 days", "count"),
    _spec("days_since_last_activity", "Days since last activity", "numeric"),
    _spec("has_activity", "Any activity logged", "flag", "days_since_last_activity"),
    _spec("days_to_expected_close", "Time to expected close", "numeric"),
    _spec("close_days_before_quarter_end", "Close date vs quarter end", "numeric"),
    _spec("has_qualification", "Qualification recorded", "flag", "health_score"),
    _spec("health_score", "Qualification health score", "score"),
    _spec("champion_score", "Champion", "score"),
    _spec("economic_buyer_score", "Economic buyer", "score"),
    _spec("paper_score", "Paper process", "score"),
    _spec("commit_gates_confirmed", "Commit gates confirmed", "count"),
    _spec("prior_industry", "Industry win rate", "prior"),
    _spec("prior_product_type", "Product win rate", "prior"),
    _spec("prior_lead_source", "Lead source win rate", "prior"),
    _spec("prior_region", "Region win rate", "prior"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(spec.name for spec in FEATURES)
# Features read from the deal's history: UNKNOWN when DealPulse first saw the deal mid-life and the CRM did not
# send the value (dealpulse_common.history). What DealPulse does not know is never a reason for a score.
HISTORY_FEATURES: tuple[str, ...] = ("days_in_stage", "close_date_push_count", "amount_change_count",
                                     "activity_count_30d")
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}
N_FEATURES = len(FEATURES)


def _feature_groups() -> dict[str, tuple[int, ...]]:
    groups: dict[str, list[int]] = {}
    for i, spec in enumerate(FEATURES):
        groups.setdefault(spec.group, []).append(i)
    return {name: tuple(indices) for name, indices in groups.items()}


# Ordered mapping: group (= its primary feature's name) -> column indices it moves together.
FEATURE_GROUPS: dict[str, tuple[int, ...]] = _feature_groups()
GROUP_LABELS: dict[str, str] = {name: FEATURES[FEATURE_INDEX[name]].label for name in FEATURE_GROUPS}


def feature_spec_dicts() -> list[dict[str, str]]:
    return [spec.to_dict() for spec in FEATURES]


# ---------------------------------------------------------------- segment priors


def normalise_segment(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = value.strip().lower()
    return cleaned or None


@dataclass
class SegmentPriors:
    """Win rates per segment, learned on a training split. Segments with fewer than ``min_deals`` closed
    deals (and unseen or missing segments) fall back to the global rate, so a thin segment cannot swing a score."""

    global_rate: float
    rates: dict[str, dict[str, float]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    min_deals: int = 10

    def rate(self, dimension: str, value: str | None) -> float:
        key = normalise_segment(value)
        if key is None:
            return self.global_rate
        return self.rates.get(dimension, {}).get(key, self.global_rate)

    @classmethod
    def fit(cls, deals: Sequence[CanonicalDeal], outcomes: Sequence[bool], min_deals: int = 10) -> SegmentPriors:
        if len(deals) != len(outcomes):
            raise ValueError("deals and outcomes differ in length")
        if not deals:
            raise ValueError("cannot learn priors from no deals")
        global_rate = float(sum(outcomes)) / len(outcomes)
        rates: dict[str, dict[str, float]] = {}
        counts: dict[str, dict[str, int]] = {}
        for dimension in SEGMENT_DIMENSIONS:
            wins: dict[str, int] = {}
            totals: dict[str, int] = {}
            for deal, won in zip(deals, outcomes, strict=True):
                key = normalise_segment(getattr(deal, dimension))
                if key is None:
                    continue
                totals[key] = totals.get(key, 0) + 1
                wins[key] = wins.get(key, 0) + int(won)
            counts[dimension] = dict(sorted(totals.items()))
            rates[dimension] = {k: wins[k] / n for k, n in sorted(totals.items()) if n >= min_deals}
        return cls(global_rate=global_rate, rates=rates, counts=counts, min_deals=min_deals)

    def to_json(self) -> str:
        payload = {
            "global_rate": self.global_rate,
            "min_deals": self.min_deals,
            "rates": self.rates,
            "counts": self.counts,
        }
        return json.dumps(payload, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SegmentPriors:
        payload = json.loads(text)
        return cls(
            global_rate=float(payload["global_rate"]),
            rates={d: {k: float(v) for k, v in r.items()} for d, r in payload.get("rates", {}).items()},
            counts={d: {k: int(v) for k, v in c.items()} for d, c in payload.get("counts", {}).items()},
            min_deals=int(payload.get("min_deals", 10)),
        )


# ---------------------------------------------------------------- feature computation


def as_utc(moment: datetime) -> datetime:
    """CRMs send naive timestamps too; we read them as UTC rather than fail on a subtraction."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _days_between(earlier: datetime | None, later: datetime) -> float | None:
    if earlier is None:
        return None
    return (later - as_utc(earlier)).total_seconds() / 86400.0


def quarter_end(day: date) -> date:
    last_month = ((day.month - 1) // 3) * 3 + 3
    next_month_first = date(day.year + 1, 1, 1) if last_month == 12 else date(day.year, last_month + 1, 1)
    return date.fromordinal(next_month_first.toordinal() - 1)


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def confirmed_commit_gates(deal: CanonicalDeal) -> int:
    """Commit gates scored at least 2 with high confidence: the model's feature and the advice's count."""
    return sum(
        1
        for gate in COMMIT_GATES
        if (entry := deal.qualification.get(gate)) is not None
        and entry.score >= 2
        and entry.confidence == Confidence.HIGH
    )


def _qualification_score(deal: CanonicalDeal, category: QualificationCategory) -> float:
    entry = deal.qualification.get(category)
    return float(entry.score) if entry is not None else UNKNOWN


def _stage_ordinal(deal: CanonicalDeal) -> float:
    # Closed stages are outcomes, not pipeline positions: both map to UNKNOWN.
    if deal.stage in OPEN_STAGES:
        return float(OPEN_STAGES.index(deal.stage))
    return UNKNOWN


def _activity_recency(deal: CanonicalDeal, as_of: datetime) -> tuple[float, float]:
    """(days since last activity, has-activity flag), preferring ingest's history value."""
    days = deal.history.days_since_last_activity
    if days is None:
        days = _days_between(deal.last_activity_at, as_of)
    if days is None:
        return NO_ACTIVITY_DAYS, 0.0
    return _clip(days, 0.0, NO_ACTIVITY_DAYS), 1.0


def _close_timing(deal: CanonicalDeal, as_of: datetime) -> tuple[float, float]:
    """(days until expected close, negative when overdue; days from it to its quarter's end)."""
    expected = deal.expected_close_date
    if expected is None:
        return NO_CLOSE_DATE_DAYS, UNKNOWN
    days_to_close = float((expected - as_of.date()).days)
    return _clip(days_to_close, -DAYS_CAP, DAYS_CAP), float((quarter_end(expected) - expected).days)


def _count(value: int | None) -> float:
    return UNKNOWN if value is None else float(value)


def unknown_history(x: np.ndarray) -> frozenset[str]:
    """The history features of a feature vector that DealPulse does not know."""
    return frozenset(name for name in HISTORY_FEATURES if x[FEATURE_INDEX[name]] == UNKNOWN)


def build_features(deal: CanonicalDeal, as_of: datetime, priors: SegmentPriors) -> np.ndarray:
    """The feature vector (float32, ``N_FEATURES`` long, ordered as ``FEATURES``) of ``deal`` as seen at ``as_of``."""
    as_of = as_utc(as_of)
    age = _days_between(deal.created_at, as_of)
    age_days = _clip(age, 0.0, DAYS_CAP) if age is not None else 0.0
    in_stage = _days_between(deal.history.stage_entered_at, as_of)
    days_in_stage = _clip(in_stage, 0.0, DAYS_CAP) if in_stage is not None else UNKNOWN
    days_since_activity, has_activity = _activity_recency(deal, as_of)
    days_to_close, days_before_quarter_end = _close_timing(deal, as_of)
    health = deal.health_score()
    gates = confirmed_commit_gates(deal)
    amount = deal.amount if deal.amount is not None and deal.amount > 0 else 0.0
    forecast = FORECAST_ORDINAL.get(deal.forecast_category, UNKNOWN) if deal.forecast_category else UNKNOWN

    values = (
        math.log1p(amount),
        age_days,
        days_in_stage,
        _stage_ordinal(deal),
        forecast,
        _count(deal.history.close_date_push_count),
        _count(deal.history.amount_change_count),
        _count(deal.history.activity_count_30d),
        days_since_activity,
        has_activity,
        days_to_close,
        days_before_quarter_end,
        0.0 if health is None else 1.0,
        UNKNOWN if health is None else float(health),
        _qualification_score(deal, QualificationCategory.CHAMPION),
        _qualification_score(deal, QualificationCategory.ECONOMIC_BUYER),
        _qualification_score(deal, QualificationCategory.PAPER),
        float(gates),
        *(priors.rate(dimension, getattr(deal, dimension)) for dimension in SEGMENT_DIMENSIONS),
    )
    return np.asarray(values, dtype=np.float32)


def build_matrix(deals: Iterable[CanonicalDeal], as_ofs: Iterable[datetime], priors: SegmentPriors) -> np.ndarray:
    """Row-stacked ``build_features`` (float32, shape (n, N_FEATURES))."""
    rows = [build_features(deal, as_of, priors) for deal, as_of in zip(deals, as_ofs, strict=True)]
    if not rows:
        return np.empty((0, N_FEATURES), dtype=np.float32)
    return np.vstack(rows)
