"""A documented synthetic CRM: closed and open B2B deals whose outcome follows a learnable, noisy process.

Each deal is drawn as a whole life (created → planned and actual cycle → close) and observed once, at a
point in time ``as_of`` before it closed (closed deals) or at the data set's "now" (open deals). The row
carries the deal as it looked at ``as_of`` plus, for closed deals, its outcome. The win logit is a sum of
segment, size, cycle, velocity, push, activity, qualification and quarter-end terms plus two unobserved
terms (deal quality and rep skill) and Bernoulli noise, so no model can separate wins from losses. The
equations are written out in docs/MODEL.md; numbers there and here must stay in step.

Serving-safe (numpy only): the demo feed imports ``open_deal_changes`` from here.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from dealpulse_common.deal import OPEN_STAGES, QualificationCategory
from dealpulse_scorer.features import quarter_end
from dealpulse_scorer.training.dataset import read_deals, write_csv, write_deals
from dealpulse_scorer.training.feed import open_deal_changes
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

__all__ = ["ANCHOR", "generate", "open_deal_changes", "read_deals", "write_csv", "write_deals"]

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)  # the generated data set's "now"; fixed so a seed reproduces a file
HISTORY_DAYS = 730
TARGET_WIN_RATE = 0.32  # on closed deals; the intercept is solved for it


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


def generate(
    n_deals: int,
    n_tenants: int = 3,
    seed: int = 0,
    *,
    anchor: datetime = ANCHOR,
    target_win_rate: float = TARGET_WIN_RATE,
) -> list[dict[str, Any]]:
    """``n_deals`` flat rows (CSV columns of ``dataset.CSV_COLUMNS``): closed deals with their outcome and
    open deals without, each observed at ``as_of``."""
    rng = np.random.default_rng(seed)
    tenants = make_tenants(rng, n_tenants)
    n = n_deals
    tenant_weights = np.array([t.share for t in tenants])
    tenant = rng.choice(len(tenants), size=n, p=tenant_weights / tenant_weights.sum())
    industry, product = _choice(rng, INDUSTRIES, n), _choice(rng, PRODUCTS, n)
    source, region = _choice(rng, LEAD_SOURCES, n), _choice(rng, REGIONS, n)
    quality = rng.normal(size=n)  # unobserved deal quality: shows through qualification and activity, noisily
    owner = np.floor(rng.random(n) * np.array([len(t.owners) for t in tenants])[tenant]).astype(int)
    skill = np.array([tenants[t].owners[o].skill for t, o in zip(tenant, owner, strict=True)])
    optimism = np.array([tenants[t].owners[o].optimism for t, o in zip(tenant, owner, strict=True)])

    # Size and cycle: the product sets the typical amount and cycle; bigger-than-usual deals take longer.
    typical_amount, typical_cycle = _effects(PRODUCTS, product, 2), _effects(PRODUCTS, product, 3)
    amount = np.maximum(1000.0, np.round(typical_amount * np.exp(rng.normal(0, 0.6, n)), -2))
    planned = np.clip(typical_cycle * np.exp(rng.normal(0, 0.3, n)) * (amount / typical_amount) ** 0.15, 14, 400)
    actual = planned * np.exp(rng.normal(0.1, 0.35, n) - 0.15 * quality)
    created_days_ago = rng.uniform(5, HISTORY_DAYS, n)
    closed = actual < created_days_ago
    # Closed deals are observed somewhere in the middle of their life, open ones now.
    progress_of_life = np.where(closed, rng.uniform(0.2, 0.95, n), created_days_ago / actual)
    age = progress_of_life * actual
    progress = age / planned

    stage = np.clip(np.floor(5.2 * np.minimum(progress, 1.0) + 0.5 * quality + rng.normal(0, 0.7, n)), 0, 5)
    stall = 1.0 + 0.4 * np.maximum(0.0, -quality)
    days_in_stage = np.where(stage == 0, age, np.minimum(age, age * rng.uniform(0.15, 0.6, n) * stall))

    # Close date: planned, pushed early when the deal is weak, and pushed again whenever it is overrun,
    # except by reps who leave a stale date in the CRM (then the deal shows as overdue).
    expected = planned * np.exp(rng.normal(0, 0.1, n))
    early_pushes = rng.poisson(np.minimum(progress, 1.0) * (0.2 + 0.4 * np.maximum(0.0, -quality)))
    expected += early_pushes * rng.uniform(7, 30, n)
    stale = rng.random(n) < 0.15 + 0.15 * (quality < -1)
    pushes = early_pushes.astype(float)
    for _ in range(40):
        overrun = (expected < age) & ~stale
        if not overrun.any():
            break
        expected[overrun] += rng.uniform(14, 45, int(overrun.sum()))
        pushes[overrun] += 1
    days_to_close = expected - age
    amount_changes = rng.poisson(0.15 + 0.5 * np.minimum(progress, 1.5))

    intensity = np.array([t.activity_intensity for t in tenants])[tenant]
    activity_30d = rng.poisson(intensity * np.exp(0.9 + 0.45 * quality + 0.12 * stage))
    never_active = rng.random(n) < 0.03 + 0.05 * (stage == 0)
    activity_30d[never_active] = 0
    recent_gap = np.minimum(rng.exponential(30.0 / (activity_30d + 1) * np.exp(-0.2 * quality)), 29.5)
    old_gap = 30.0 + rng.exponential(20.0 * np.exp(-0.3 * quality))
    days_since_activity = np.minimum(np.where(activity_30d > 0, recent_gap, old_gap), age)

    adoption = np.array([t.qualification_adoption for t in tenants])[tenant]
    has_qualification = rng.random(n) < adoption
    scores: dict[QualificationCategory, np.ndarray] = {}
    for category, offset in QUALIFICATION_OFFSETS.items():
        level = 0.45 * stage + 0.9 * quality + offset + 0.3 * np.minimum(progress, 1.0) + rng.normal(0, 0.9, n)
        scores[category] = np.clip(np.rint(level), 0, 3)
    present = {c: has_qualification & (rng.random(n) > 0.08) for c in QUALIFICATION_OFFSETS}
    high_confidence = {c: rng.random(n) < 0.55 + 0.15 * quality for c in QUALIFICATION_OFFSETS}

    forecast_level = 0.75 * stage + optimism + 0.3 * quality + rng.normal(0, 0.6, n)
    forecast = np.where(forecast_level < 1.8, 1, np.where(forecast_level < 3.2, 2, 3))
    forecast[rng.random(n) < 0.04] = 0  # omitted

    as_of_days_ago = created_days_ago - age  # 0 for open deals
    expected_dates = [
        (anchor - timedelta(days=float(c - e))).date() for c, e in zip(created_days_ago, expected, strict=True)
    ]
    quarter_end_gap = np.array([(quarter_end(d) - d).days for d in expected_dates])

    def score_or_neutral(category: QualificationCategory) -> np.ndarray:
        return np.where(present[category], scores[category], 1.0)

    gates = sum(
        (present[c] & (scores[c] >= 2) & high_confidence[c]).astype(float)
        for c in (
            QualificationCategory.PAPER,
            QualificationCategory.PROCESS,
            QualificationCategory.TIMING,
            QualificationCategory.BUDGET,
        )
    )
    qualification_term = has_qualification * (
        0.30 * (score_or_neutral(QualificationCategory.CHAMPION) - 1.5)
        + 0.25 * (score_or_neutral(QualificationCategory.ECONOMIC_BUYER) - 1.5)
        + 0.15 * (score_or_neutral(QualificationCategory.PAPER) - 1.5)
        + 0.10 * (score_or_neutral(QualificationCategory.PROCESS) - 1.5)
        + 0.12 * gates
    )
    logit = (
        np.array([t.effect for t in tenants])[tenant]
        + _effects(INDUSTRIES, industry)
        + _effects(PRODUCTS, product)
        + _effects(LEAD_SOURCES, source)
        + _effects(REGIONS, region)
        - 0.20 * np.log(amount / 30000.0)
        + 0.28 * stage
        - 0.50 * np.log1p(days_in_stage / 30.0)
        - 0.004 * np.maximum(0.0, age - 120.0)
        - 0.30 * pushes
        + 0.07 * np.minimum(activity_30d, 12)
        - 0.45 * np.log1p(np.where(never_active, 60.0, days_since_activity) / 7.0)
        - 0.30 * never_active
        + qualification_term
        + 0.35 * (quarter_end_gap <= 14)
        - 0.45 * (days_to_close < 0)
        + 0.08 * (forecast - 1.5)
        + 0.55 * quality
        + skill
    )
    logit += _solve_intercept(logit[closed], target_win_rate)
    won = rng.random(n) < _sigmoid(logit)

    rows = []
    industry_names, product_names = list(INDUSTRIES), list(PRODUCTS)
    source_names, region_names = list(LEAD_SOURCES), list(REGIONS)
    for i in range(n):
        profile: TenantProfile = tenants[tenant[i]]
        rep = profile.owners[owner[i]]
        created_at = anchor - timedelta(days=float(created_days_ago[i]))
        as_of = anchor - timedelta(days=float(as_of_days_ago[i]))
        closed_at = created_at + timedelta(days=float(actual[i])) if closed[i] else None
        qualification = {
            category.value: qualification_entry(rng, int(scores[category][i]), bool(high_confidence[category][i]))
            for category in QUALIFICATION_OFFSETS
            if present[category][i]
        }
        account = f"{ACCOUNT_WORDS[0][i % len(ACCOUNT_WORDS[0])]} {ACCOUNT_WORDS[1][(i * 7) % len(ACCOUNT_WORDS[1])]}"
        current_stage = OPEN_STAGES[int(stage[i])]
        rows.append(
            {
                "tenant_id": profile.tenant_id,
                "deal_id": f"D-{i + 1:06d}",
                "name": f"{account} — {product_names[product[i]].replace('_', ' ')}",
                "account_name": account,
                "amount": float(amount[i]),
                "currency": "USD",
                "stage": current_stage.value,
                "crm_stage": current_stage.value.replace("_", " ").title(),
                "forecast_category": ("omitted", "pipeline", "best_case", "commit")[int(forecast[i])],
                "industry": industry_names[industry[i]],
                "region": region_names[region[i]],
                "product_type": product_names[product[i]],
                "lead_source": source_names[source[i]],
                "owner_id": rep.owner_id,
                "owner_name": rep.name,
                "manager_id": rep.manager_id,
                "created_at": created_at.isoformat(),
                "expected_close_date": expected_dates[i].isoformat(),
                "closed_at": closed_at.isoformat() if closed_at else None,
                "is_closed": bool(closed[i]),
                "is_won": bool(won[i]) if closed[i] else None,
                "last_activity_at": None
                if never_active[i]
                else (as_of - timedelta(days=float(days_since_activity[i]))).isoformat(),
                "qualification": json.dumps(qualification, sort_keys=True),
                "custom": "{}",
                "source_modified_at": as_of.isoformat(),
                "stage_entered_at": (as_of - timedelta(days=float(days_in_stage[i]))).isoformat(),
                "close_date_push_count": int(pushes[i]),
                "amount_change_count": int(amount_changes[i]),
                "activity_count_30d": int(activity_30d[i]),
                "days_since_last_activity": None if never_active[i] else round(float(days_since_activity[i]), 3),
                "as_of": as_of.isoformat(),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic CRM data set (CSV, or Parquet for .parquet)")
    parser.add_argument("--deals", type=int, default=20000)
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    rows = generate(args.deals, args.tenants, args.seed)
    write_deals(rows, args.out)
    closed = [r for r in rows if r["is_closed"]]
    wins = sum(1 for r in closed if r["is_won"])
    print(f"wrote {len(rows)} deals to {args.out}: {len(closed)} closed ({wins / max(1, len(closed)):.1%} won)")


if __name__ == "__main__":
    main()
