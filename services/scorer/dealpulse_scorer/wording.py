"""Sentences a sales rep understands, written from a deal's feature values (and the deal, when at hand).

Serving-safe. The numbers in these sentences come from the feature vector the model saw, so the words and
the model never disagree about the deal.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from dealpulse_common.deal import OPEN_STAGES, CanonicalDeal
from dealpulse_scorer.features import FEATURE_INDEX, NO_ACTIVITY_DAYS, NO_CLOSE_DATE_DAYS, UNKNOWN

STAGE_NAMES: tuple[str, ...] = tuple(stage.value.replace("_", " ").capitalize() for stage in OPEN_STAGES)
FORECAST_NAMES: dict[int, str] = {0: "Omitted", 1: "Pipeline", 2: "Best case", 3: "Commit"}
SCORE_WORDS: dict[int, str] = {0: "missing", 1: "weak", 2: "solid", 3: "confirmed"}
PRIOR_SEGMENTS: dict[str, tuple[str, str]] = {
    # feature -> (deal attribute, how to name deals of that segment, with {} for the segment value)
    "prior_industry": ("industry", "{} deals"),
    "prior_product_type": ("product_type", "{} deals"),
    "prior_lead_source": ("lead_source", "{}-sourced deals"),
    "prior_region": ("region", "Deals in {}"),
}
SCORE_FEATURES: dict[str, str] = {
    "champion_score": "Champion",
    "economic_buyer_score": "Economic buyer",
    "paper_score": "Paper process",
}


def _value(x: np.ndarray, name: str) -> float:
    return float(x[FEATURE_INDEX[name]])


def _days(value: float) -> int:
    return round(value)


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _money(amount: float, deal: CanonicalDeal | None) -> str:
    currency = deal.currency if deal is not None else "USD"
    return f"${amount:,.0f}" if currency == "USD" else f"{amount:,.0f} {currency}"


def _stage_name(value: float) -> str | None:
    index = int(value)
    return STAGE_NAMES[index] if 0 <= index < len(STAGE_NAMES) else None


def _segment_value(feature: str, deal: CanonicalDeal | None) -> str | None:
    attribute, _ = PRIOR_SEGMENTS[feature]
    value = getattr(deal, attribute) if deal is not None else None
    return str(value).replace("_", " ") if value else None


# ---------------------------------------------------------------- the state of one feature


def _amount_state(x: np.ndarray, deal: CanonicalDeal | None) -> str:
    amount = math.expm1(_value(x, "log_amount"))
    return "No amount on the deal" if amount <= 0 else f"Deal size {_money(amount, deal)}"


NOT_KNOWN = "not known yet: DealPulse first saw the deal mid-life and the CRM did not send it"


def _stage_time_state(x: np.ndarray, _deal: CanonicalDeal | None) -> str:
    stage = _stage_name(_value(x, "stage_ordinal"))
    if _value(x, "days_in_stage") == UNKNOWN:
        return f"Time in {stage or 'the current stage'} {NOT_KNOWN}"
    return f"{_days(_value(x, 'days_in_stage'))} days in {stage or 'the current stage'}"


def _stage_state(x: np.ndarray, _deal: CanonicalDeal | None) -> str:
    stage = _stage_name(_value(x, "stage_ordinal"))
    return f"At the {stage} stage" if stage else "Stage unknown"


def _forecast_state(x: np.ndarray, _deal: CanonicalDeal | None) -> str:
    name = FORECAST_NAMES.get(int(_value(x, "forecast_ordinal")))
    return f"Rep's forecast call is {name}" if name else "No forecast call from the rep"


def _pushes_state(x: np.ndarray, _deal: CanonicalDeal | None) -> str:
    pushes = int(_value(x, "close_date_push_count"))
    if pushes == UNKNOWN:
        return f"Close date pushes {NOT_KNOWN}"
    return "Close date never pushed" if pushes == 0 else f"Close date pushed {_times(pushes)}"


def _amount_changes_state(x: np.ndarray, _deal: CanonicalDeal | None) -> str:
    changes = int(_value(x, "amount_change_count"))
    if changes == UNKNOWN:
        return f"Amount changes {NOT_KNOWN}"
    return "Amount never changed" if changes == 0 else f"Amount changed {_times(changes)}"


def _activity_volume_state(x: np.ndarray, _deal: CanonicalDeal | None) -> str:
    count = int(_value(x, "activity_count_30d"))
    if count == UNKNOWN:
        return f"Activity in the last 30 days {NOT_KNOWN}"
    if count == 0:
        return "No activity in the last 30 days"
    return f"{count} {'activity' if count == 1 else 'activities'} in the last 30 days"


def _recency_state(x: np.ndarray, _deal: CanonicalDeal | None) -> str:
    days = _value(x, "days_since_last_activity")
    if _value(x, "has_activity") == 0.0:
        return "No activity ever logged"
    if days >= NO_ACTIVITY_DAYS:
        return "No activity for a year or more"
    return "Activity logged today" if days < 1 else f"Last activity {_days(days)} days ago"


def _close_state(x: np.ndarray, _deal: CanonicalDeal | None) -> str:
    days = _days(_value(x, "days_to_expected_close"))
    if days >= NO_CLOSE_DATE_DAYS and _value(x, "close_days_before_quarter_end") == UNKNOWN:
        return "No expected close date"
    if days < 0:
        return f"Expected close date passed {-days} days ago"
    return "Expected to close today" if days == 0 else f"Expected to close in {days} days"


def _quarter_end_state(x: np.ndarray, _deal: CanonicalDeal | None) -> str:
    days = _value(x, "close_days_before_quarter_end")
    if days == UNKNOWN:
        return "No expected close date"
    if days == 0:
        return "Expected close on the last day of a quarter"
    return f"Expected close {_days(days)} days before its quarter ends"


def _health_state(x: np.ndarray, _deal: CanonicalDeal | None) -> str:
    if _value(x, "has_qualification") == 0.0:
        return "No qualification recorded"
    return f"Qualification health score {_days(_value(x, 'health_score'))}/30"


def _gates_state(x: np.ndarray, _deal: CanonicalDeal | None) -> str:
    return f"{int(_value(x, 'commit_gates_confirmed'))} of 4 commit gates confirmed with high confidence"


def _score_state(feature: str) -> Callable[[np.ndarray, CanonicalDeal | None], str]:
    def state(x: np.ndarray, _deal: CanonicalDeal | None) -> str:
        score = int(_value(x, feature))
        name = SCORE_FEATURES[feature]
        return f"{name} not assessed" if score < 0 else f"{name} {SCORE_WORDS[score]} ({score}/3)"

    return state


def _prior_state(feature: str) -> Callable[[np.ndarray, CanonicalDeal | None], str]:
    def state(x: np.ndarray, deal: CanonicalDeal | None) -> str:
        rate = _value(x, feature)
        segment = _segment_value(feature, deal)
        _, pattern = PRIOR_SEGMENTS[feature]
        if segment is None:
            who = "Deals of this segment"
        else:
            who = pattern.format(segment.upper() if feature == "prior_region" else segment.capitalize())
        return f"{who} win {rate:.0%} of the time here"

    return state


STATE_PHRASES: dict[str, Callable[[np.ndarray, CanonicalDeal | None], str]] = {
    "log_amount": _amount_state,
    "deal_age_days": lambda x, _d: f"Open for {_days(_value(x, 'deal_age_days'))} days",
    "days_in_stage": _stage_time_state,
    "stage_ordinal": _stage_state,
    "forecast_ordinal": _forecast_state,
    "close_date_push_count": _pushes_state,
    "amount_change_count": _amount_changes_state,
    "activity_count_30d": _activity_volume_state,
    "days_since_last_activity": _recency_state,
    "days_to_expected_close": _close_state,
    "close_days_before_quarter_end": _quarter_end_state,
    "health_score": _health_state,
    "commit_gates_confirmed": _gates_state,
    **{feature: _score_state(feature) for feature in SCORE_FEATURES},
    **{feature: _prior_state(feature) for feature in PRIOR_SEGMENTS},
}


def describe_state(group: str, x: np.ndarray, deal: CanonicalDeal | None = None) -> str:
    return STATE_PHRASES[group](x, deal)


def describe_factor(group: str, x: np.ndarray, impact_points: float, deal: CanonicalDeal | None = None) -> str:
    """ "Close date pushed 3 times — lowers the win chance by 14 points against a typical deal here"."""
    size = abs(impact_points)
    amount = f"{size:.0f}" if size >= 1 else f"{size:.1f}"
    direction = "raises" if impact_points > 0 else "lowers"
    state = describe_state(group, x, deal)
    unit = "point" if amount == "1" else "points"
    return f"{state} — {direction} the win chance by {amount} {unit} against a typical deal here"


# ---------------------------------------------------------------- what changed between two scores


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _count_change(what: str, previous: int, current: int) -> str:
    if current == previous + 1:
        return f"{what} {ordinal(current)} time"
    if current > previous:
        return f"{what} {current - previous} more times ({current} in total)"
    return f"{what} count reset to {current}"


def _history_learned(group: str, previous: float, current: float) -> str:
    if current == UNKNOWN:
        return f"{_lower_first(HISTORY_NAMES[group])} no longer known"
    if group == "days_in_stage":
        return "entered a new stage" if current < 1 else f"time in stage now known ({_days(current)} days)"
    return f"{_lower_first(HISTORY_NAMES[group])} now known: {int(current)}"


HISTORY_NAMES: dict[str, str] = {
    "days_in_stage": "Time in stage", "close_date_push_count": "Close date pushes",
    "amount_change_count": "Amount changes", "activity_count_30d": "Activities in the last 30 days",
}


def describe_change(group: str, previous: np.ndarray, current: np.ndarray, deal: CanonicalDeal | None = None) -> str:
    """A short phrase for what moved in ``group`` between two feature vectors of one deal."""
    prev, cur = _value(previous, group), _value(current, group)
    if group in HISTORY_NAMES and UNKNOWN in (prev, cur):
        return _history_learned(group, prev, cur)
    if group == "close_date_push_count":
        return _count_change("close date pushed", int(prev), int(cur))
    if group == "amount_change_count":
        return _count_change("amount changed", int(prev), int(cur))
    if group == "log_amount":
        return f"amount changed from {_money(math.expm1(prev), deal)} to {_money(math.expm1(cur), deal)}"
    if group == "stage_ordinal":
        return f"stage moved from {_stage_name(prev) or 'unknown'} to {_stage_name(cur) or 'unknown'}"
    if group == "forecast_ordinal":
        before, after = FORECAST_NAMES.get(int(prev), "none"), FORECAST_NAMES.get(int(cur), "none")
        return f"forecast call changed from {before} to {after}"
    if group == "days_since_last_activity":
        newly_active = _value(current, "has_activity") > _value(previous, "has_activity")
        return "new activity logged" if newly_active or cur < prev else _lower_first(_recency_state(current, deal))
    if group == "days_in_stage" and cur < prev:
        return "entered a new stage"
    if group == "health_score" and _value(current, "has_qualification") > _value(previous, "has_qualification"):
        return f"qualification recorded (health score {int(cur)}/30)"
    if group == "health_score":
        return f"qualification health score {int(prev)} → {int(cur)}"
    if group in SCORE_FEATURES:
        name = SCORE_FEATURES[group].lower()
        if cur == 3 and prev < 3:
            return f"{name} confirmed"
        return f"{name} assessed at {int(cur)}/3" if prev < 0 else f"{name} score {int(prev)} → {int(cur)}"
    if group == "commit_gates_confirmed":
        return f"commit gates confirmed {int(prev)} → {int(cur)}"
    if group in PRIOR_SEGMENTS:
        return f"segment changed: {_lower_first(STATE_PHRASES[group](current, deal))} (was {prev:.0%})"
    return _lower_first(describe_state(group, current, deal))
