"""A documented synthetic CRM: closed and open B2B deals whose outcome follows a learnable, noisy process, delivered
to DealPulse as a CRM delivers them.

Each deal is drawn as a whole life (created → planned and actual cycle → close) with its latent values at one
observation moment: before it closed (closed deals) or at the data set's "now" (open deals). ``life.py`` turns the
draw into the deal's change sequence and the deliveries DealPulse receives of it (from its tenant's connection on,
with the history its tenant's CRM sends), and the row is those deliveries folded by ``DealReplay`` — the fold ingest
applies to live traffic — as of the last one before the observation moment. The win logit is a sum of segment,
size, cycle, velocity, push, activity, qualification and quarter-end terms plus two unobserved terms (deal quality
and rep skill) and Bernoulli noise, so no model can separate wins from losses. The equations are written out in
docs/MODEL.md; numbers there and here must stay in step.

Serving-safe (numpy only): the demo feed draws its deals with ``draw_deals`` (``feed.py``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from dealpulse_common.deal import QualificationCategory
from dealpulse_scorer.features import quarter_end
from dealpulse_scorer.training.dataset import read_deals, write_csv, write_deals
from dealpulse_scorer.training.life import DealDraw, DealLife, deal_life, training_row
from dealpulse_scorer.training.world import (
    ACCOUNT_WORDS,
    INDUSTRIES,
    LEAD_SOURCES,
    PRODUCTS,
    QUALIFICATION_OFFSETS,
    REGIONS,
    TenantProfile,
    make_tenants,
    qualification_entry,
)

__all__ = ["ANCHOR", "draw_deals", "generate", "lives", "read_deals", "write_csv", "write_deals"]

# Bumped whenever the same seed would generate different rows, so a demo data set written by an older generator
# is not reused (2: rows are replays of each deal's deliveries).
DATA_VERSION = 2
ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)  # the generated data set's "now"; fixed so a seed reproduces a file


def demo_anchor(now: datetime | None = None) -> datetime:
    """Today's midnight (UTC): the "now" of the demo model's data and of the demo feed alike. Close dates sit in
    the calendar's quarters, so a world drawn at one date and shifted to another would not match its training."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
HISTORY_DAYS = 730
TARGET_WIN_RATE = 0.32  # on closed deals; the intercept is solved for it
MAX_ROUNDS = 10  # of drawing deals, to collect the rows asked for
MAX_OLDER_ACTIVITIES = 10  # activities before the last 30 days drawn per deal (they only move last_activity_at)


def _choice(rng: np.random.Generator, table: Mapping[str, tuple[float, ...]], n: int) -> np.ndarray:
    shares = np.array([row[0] for row in table.values()])
    chosen: np.ndarray = rng.choice(len(table), size=n, p=shares / shares.sum())
    return chosen


def _effects(table: Mapping[str, tuple[float, ...]], index: np.ndarray, column: int = 1) -> np.ndarray:
    effects: np.ndarray = np.array([row[column] for row in table.values()])[index]
    return effects


def _sigmoid(z: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return result


def _solve_intercept(logit: np.ndarray, target: float) -> float:
    low, high = -10.0, 10.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if _sigmoid(logit + mid).mean() < target else (low, mid)
    return (low + high) / 2


def _draw_cycle(rng: np.random.Generator, d: dict[str, Any], n: int, anchor: datetime) -> None:
    """Size, cycle, timing, stage and close date (the first draws, in the order the data set has always used)."""
    tenants: Sequence[TenantProfile] = d["tenants"]
    tenant_weights = np.array([t.share for t in tenants])
    d["tenant"] = tenant = rng.choice(len(tenants), size=n, p=tenant_weights / tenant_weights.sum())
    d["industry"], d["product"] = _choice(rng, INDUSTRIES, n), _choice(rng, PRODUCTS, n)
    d["source"], d["region"] = _choice(rng, LEAD_SOURCES, n), _choice(rng, REGIONS, n)
    d["quality"] = quality = rng.normal(size=n)  # unobserved deal quality: shows through qualification and activity
    d["owner"] = owner = np.floor(rng.random(n) * np.array([len(t.owners) for t in tenants])[tenant]).astype(int)
    d["skill"] = np.array([tenants[t].owners[o].skill for t, o in zip(tenant, owner, strict=True)])
    d["optimism"] = np.array([tenants[t].owners[o].optimism for t, o in zip(tenant, owner, strict=True)])

    # Size and cycle: the product sets the typical amount and cycle; bigger-than-usual deals take longer.
    typical_amount, typical_cycle = _effects(PRODUCTS, d["product"], 2), _effects(PRODUCTS, d["product"], 3)
    d["amount"] = amount = np.maximum(1000.0, np.round(typical_amount * np.exp(rng.normal(0, 0.6, n)), -2))
    planned = np.clip(typical_cycle * np.exp(rng.normal(0, 0.3, n)) * (amount / typical_amount) ** 0.15, 14, 400)
    d["actual"] = actual = planned * np.exp(rng.normal(0.1, 0.35, n) - 0.15 * quality)
    d["created_days_ago"] = created_days_ago = rng.uniform(5, HISTORY_DAYS, n)
    d["closed"] = closed = actual < created_days_ago
    # Closed deals are observed somewhere in the middle of their life, open ones now.
    progress_of_life = np.where(closed, rng.uniform(0.2, 0.95, n), created_days_ago / actual)
    d["age"] = age = progress_of_life * actual
    d["progress"] = progress = age / planned

    d["stage"] = stage = np.clip(np.floor(5.2 * np.minimum(progress, 1.0) + 0.5 * quality + rng.normal(0, 0.7, n)),
                                 0, 5)
    stall = 1.0 + 0.4 * np.maximum(0.0, -quality)
    d["days_in_stage"] = np.where(stage == 0, age, np.minimum(age, age * rng.uniform(0.15, 0.6, n) * stall))

    # Close date: planned, pushed early when the deal is weak, and pushed again whenever it is overrun,
    # except by reps who leave a stale date in the CRM (then the deal shows as overdue).
    d["expected_base"] = expected = planned * np.exp(rng.normal(0, 0.1, n))
    d["early_pushes"] = early_pushes = rng.poisson(np.minimum(progress, 1.0) * (0.2 + 0.4 * np.maximum(0.0, -quality)))
    d["early_step"] = early_step = rng.uniform(7, 30, n)
    expected = expected + early_pushes * early_step
    stale = rng.random(n) < 0.15 + 0.15 * (quality < -1)
    pushes = early_pushes.astype(float)
    overrun_steps: list[np.ndarray] = []  # per round, each deal's push (0: none)
    for _ in range(40):
        overrun = (expected < age) & ~stale
        if not overrun.any():
            break
        step = np.zeros(n)
        step[overrun] = rng.uniform(14, 45, int(overrun.sum()))
        expected = expected + step
        overrun_steps.append(step)
        pushes[overrun] += 1
    d["overrun_steps"], d["pushes"] = overrun_steps, pushes
    d["days_to_close"] = expected - age
    d["amount_changes"] = rng.poisson(0.15 + 0.5 * np.minimum(progress, 1.5))
    d["created_at"] = created_at = [anchor - timedelta(days=float(c)) for c in created_days_ago]
    expected_dates = [(c + timedelta(days=float(e))).date() for c, e in zip(created_at, expected, strict=True)]
    d["quarter_end_gap"] = np.array([(quarter_end(day) - day).days for day in expected_dates])


def _draw_activity(rng: np.random.Generator, d: dict[str, Any], n: int) -> None:
    quality, stage, age = d["quality"], d["stage"], d["age"]
    intensity = np.array([t.activity_intensity for t in d["tenants"]])[d["tenant"]]
    activity_30d = rng.poisson(intensity * np.exp(0.9 + 0.45 * quality + 0.12 * stage))
    d["never_active"] = never_active = rng.random(n) < 0.03 + 0.05 * (stage == 0)
    activity_30d[never_active] = 0
    recent_gap = np.minimum(rng.exponential(30.0 / (activity_30d + 1) * np.exp(-0.2 * quality)), 29.5)
    old_gap = 30.0 + rng.exponential(20.0 * np.exp(-0.3 * quality))
    d["days_since_activity"] = days_since = np.minimum(np.where(activity_30d > 0, recent_gap, old_gap), age)
    # The count is what fits the deal's life: a last activity capped at creation is its only one, and one capped
    # inside the 30-day window is counted in it.
    active = ~never_active
    at_creation = active & (days_since >= age)
    activity_30d[at_creation] = np.minimum(activity_30d[at_creation], 1)
    activity_30d[active & (days_since < 30.0)] = np.maximum(activity_30d[active & (days_since < 30.0)], 1)
    d["activity_30d"] = activity_30d


def _draw_qualification(rng: np.random.Generator, d: dict[str, Any], n: int) -> None:
    quality, stage, progress = d["quality"], d["stage"], d["progress"]
    adoption = np.array([t.qualification_adoption for t in d["tenants"]])[d["tenant"]]
    d["has_qualification"] = has_qualification = rng.random(n) < adoption
    scores: dict[QualificationCategory, np.ndarray] = {}
    for category, offset in QUALIFICATION_OFFSETS.items():
        level = 0.45 * stage + 0.9 * quality + offset + 0.3 * np.minimum(progress, 1.0) + rng.normal(0, 0.9, n)
        scores[category] = np.clip(np.rint(level), 0, 3)
    d["scores"] = scores
    d["present"] = {c: has_qualification & (rng.random(n) > 0.08) for c in QUALIFICATION_OFFSETS}
    d["high_confidence"] = {c: rng.random(n) < 0.55 + 0.15 * quality for c in QUALIFICATION_OFFSETS}
    forecast_level = 0.75 * stage + d["optimism"] + 0.3 * quality + rng.normal(0, 0.6, n)
    forecast = np.where(forecast_level < 1.8, 1, np.where(forecast_level < 3.2, 2, 3))
    forecast[rng.random(n) < 0.04] = 0  # omitted
    d["forecast"] = forecast


def _logit(d: dict[str, Any]) -> np.ndarray:
    present, scores, high_confidence = d["present"], d["scores"], d["high_confidence"]

    def score_or_neutral(category: QualificationCategory) -> np.ndarray:
        return np.where(present[category], scores[category], 1.0)

    gates = sum(
        (present[c] & (scores[c] >= 2) & high_confidence[c]).astype(float)
        for c in (QualificationCategory.PAPER, QualificationCategory.PROCESS, QualificationCategory.TIMING,
                  QualificationCategory.BUDGET)
    )
    qualification_term = d["has_qualification"] * (
        0.30 * (score_or_neutral(QualificationCategory.CHAMPION) - 1.5)
        + 0.25 * (score_or_neutral(QualificationCategory.ECONOMIC_BUYER) - 1.5)
        + 0.15 * (score_or_neutral(QualificationCategory.PAPER) - 1.5)
        + 0.10 * (score_or_neutral(QualificationCategory.PROCESS) - 1.5)
        + 0.12 * gates
    )
    never_active = d["never_active"]
    logit: np.ndarray = (
        np.array([t.effect for t in d["tenants"]])[d["tenant"]]
        + _effects(INDUSTRIES, d["industry"])
        + _effects(PRODUCTS, d["product"])
        + _effects(LEAD_SOURCES, d["source"])
        + _effects(REGIONS, d["region"])
        - 0.20 * np.log(d["amount"] / 30000.0)
        + 0.28 * d["stage"]
        - 0.50 * np.log1p(d["days_in_stage"] / 30.0)
        - 0.004 * np.maximum(0.0, d["age"] - 120.0)
        - 0.30 * d["pushes"]
        + 0.07 * np.minimum(d["activity_30d"], 12)
        - 0.45 * np.log1p(np.where(never_active, 60.0, d["days_since_activity"]) / 7.0)
        - 0.30 * never_active
        + qualification_term
        + 0.35 * (d["quarter_end_gap"] <= 14)
        - 0.45 * (d["days_to_close"] < 0)
        + 0.08 * (d["forecast"] - 1.5)
        + 0.55 * d["quality"]
        + d["skill"]
    )
    return logit


def _draw(d: dict[str, Any], i: int, rng: np.random.Generator, deal_id: str, older: int) -> DealDraw:
    profile: TenantProfile = d["tenants"][d["tenant"][i]]
    product = list(PRODUCTS)[d["product"][i]]
    account = f"{ACCOUNT_WORDS[0][i % len(ACCOUNT_WORDS[0])]} {ACCOUNT_WORDS[1][(i * 7) % len(ACCOUNT_WORDS[1])]}"
    qualification = {
        category.value: qualification_entry(rng, int(d["scores"][category][i]), bool(d["high_confidence"][category][i]))
        for category in QUALIFICATION_OFFSETS
        if d["present"][category][i]
    }
    return DealDraw(
        tenant=profile, rep=profile.owners[d["owner"][i]], deal_id=deal_id,
        name=f"{account} — {product.replace('_', ' ')}", account_name=account,
        segments={"industry": list(INDUSTRIES)[d["industry"][i]], "region": list(REGIONS)[d["region"][i]],
                  "product_type": product, "lead_source": list(LEAD_SOURCES)[d["source"][i]]},
        created_at=d["created_at"][i], age=float(d["age"][i]), actual_cycle=float(d["actual"][i]),
        closed=bool(d["closed"][i]), won=bool(d["won"][i]), amount=float(d["amount"][i]),
        amount_changes=int(d["amount_changes"][i]), stage=int(d["stage"][i]),
        days_in_stage=float(d["days_in_stage"][i]), expected_base=float(d["expected_base"][i]),
        early_pushes=int(d["early_pushes"][i]), early_step=float(d["early_step"][i]),
        overrun_steps=tuple(float(s[i]) for s in d["overrun_steps"] if s[i] > 0),
        activity_30d=int(d["activity_30d"][i]), never_active=bool(d["never_active"][i]),
        days_since_activity=float(d["days_since_activity"][i]), older_activities=older,
        qualification=qualification, forecast=int(d["forecast"][i]),
    )


def _connected_days_ago(d: dict[str, Any]) -> np.ndarray:
    connected: np.ndarray = np.array([t.connected_days_ago for t in d["tenants"]])[d["tenant"]]
    return connected


def seen_by_observation(d: dict[str, Any]) -> np.ndarray:
    """Deals DealPulse had seen by their observation moment: the ones that can be training rows."""
    observed_days_ago: np.ndarray = d["created_days_ago"] - d["age"]
    return observed_days_ago <= _connected_days_ago(d)


def seen_at_all(d: dict[str, Any]) -> np.ndarray:
    """Deals DealPulse saw at some point: open at "now", or closed after their tenant's connection."""
    closed_days_ago: np.ndarray = d["created_days_ago"] - d["actual"]
    return ~d["closed"] | (closed_days_ago <= _connected_days_ago(d))


def draw_deals(
    n: int,
    tenants: Sequence[TenantProfile],
    rng: np.random.Generator,
    *,
    anchor: datetime = ANCHOR,
    target_win_rate: float = TARGET_WIN_RATE,
    keep: Callable[[dict[str, Any]], np.ndarray] = seen_by_observation,
    id_prefix: str = "D",
    first_number: int = 1,
) -> list[DealDraw]:
    """``n`` deals drawn from ``tenants`` by their shares, each with its latent values and outcome; only those
    ``keep`` selects are returned (numbered among all ``n``, from ``first_number``)."""
    d: dict[str, Any] = {"tenants": tenants}
    _draw_cycle(rng, d, n, anchor)
    _draw_activity(rng, d, n)
    _draw_qualification(rng, d, n)
    logit = _logit(d)
    logit += _solve_intercept(logit[d["closed"]], target_win_rate)
    d["won"] = rng.random(n) < _sigmoid(logit)
    # Activities older than the 30-day window only move last_activity_at: a few per deal, drawn after the rest.
    intensity = np.array([t.activity_intensity for t in tenants])[d["tenant"]]
    span = np.maximum(0.0, d["age"] - 30.0)
    older = np.minimum(MAX_OLDER_ACTIVITIES, rng.poisson(intensity * np.exp(0.9 + 0.45 * d["quality"]) * span / 60))
    return [_draw(d, int(i), rng, f"{id_prefix}-{first_number + i:06d}", int(older[i]))
            for i in np.flatnonzero(keep(d))]


def lives(draws: Sequence[DealDraw], seed: int, anchor: datetime = ANCHOR) -> Iterator[DealLife]:
    """Each drawn deal's life (``life.deal_life``); the timings within a life come from one stream per ``seed``."""
    rnd = random.Random(seed)
    for draw in draws:
        yield deal_life(draw, anchor, rnd)


def generate(
    n_deals: int,
    n_tenants: int = 3,
    seed: int = 0,
    *,
    anchor: datetime = ANCHOR,
    target_win_rate: float = TARGET_WIN_RATE,
) -> list[dict[str, Any]]:
    """``n_deals`` training rows (CSV columns of ``dataset.CSV_COLUMNS``): closed deals with their outcome and open
    deals without, each as DealPulse knew it at ``as_of``. A drawn deal DealPulse had not seen by its observation
    moment (its tenant connected later) is not a row, so deals are drawn in rounds of ``n_deals`` until there are
    enough rows."""
    rng = np.random.default_rng(seed)
    tenants = make_tenants(rng, n_tenants)
    rows: list[dict[str, Any]] = []
    for round_no in range(MAX_ROUNDS):
        draws = draw_deals(n_deals, tenants, rng, anchor=anchor, target_win_rate=target_win_rate,
                           first_number=round_no * n_deals + 1)
        rows.extend(row for life in lives(draws, seed + round_no, anchor) if (row := training_row(life)) is not None)
        if len(rows) >= n_deals:
            return rows[:n_deals]
    raise ValueError(f"{MAX_ROUNDS} rounds of {n_deals} deals gave only {len(rows)} rows: are the tenants connected?")
