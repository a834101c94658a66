"""A live stream of CRM changes to one tenant's open pipeline, for the demo feed.

Serving-safe (numpy only). Each yielded dict is a full deal snapshot in canonical form — CanonicalDeal's fields
except ``history`` (ingest derives that from the sequence of changes) — plus ``modified_at``, the CRM's
modification time. Values are JSON-ready (ISO strings for dates and times).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from dealpulse_common.deal import OPEN_STAGES
from dealpulse_scorer.training.world import (
    ACCOUNT_WORDS,
    INDUSTRIES,
    LEAD_SOURCES,
    PRODUCTS,
    QUALIFICATION_OFFSETS,
    REGIONS,
    Rep,
    make_reps,
    pick,
    qualification_entry,
)

POOL_SIZE = 40
# change kind -> weight; closing and creating keep the pool's size roughly steady
CHANGE_WEIGHTS: dict[str, float] = {
    "activity": 0.32,
    "qualification": 0.16,
    "stage": 0.12,
    "push": 0.10,
    "amount": 0.07,
    "forecast": 0.08,
    "close": 0.07,
    "new": 0.08,
}
FORECAST_BY_STAGE = ("pipeline", "pipeline", "pipeline", "best_case", "best_case", "commit")


class _DemoPipeline:
    def __init__(self, tenant_id: str, rng: np.random.Generator, clock: datetime) -> None:
        self.tenant_id = tenant_id
        self.rng = rng
        self.clock = clock
        self.reps: tuple[Rep, ...] = make_reps(rng, tenant_id, 8)
        self.open: dict[str, dict[str, Any]] = {}
        self.serial = 0

    def new_deal(self) -> dict[str, Any]:
        rng = self.rng
        self.serial += 1
        product = pick(rng, PRODUCTS)
        _, _, typical_amount, typical_cycle = PRODUCTS[product]
        age_days = float(rng.uniform(2, 120))
        stage = int(min(5, np.floor(5.0 * age_days / (typical_cycle * 1.2) + rng.normal(0, 0.8))))
        stage = max(0, stage)
        rep = self.reps[int(rng.integers(len(self.reps)))]
        account = f"{ACCOUNT_WORDS[0][int(rng.integers(len(ACCOUNT_WORDS[0])))]} " + (
            f"{ACCOUNT_WORDS[1][int(rng.integers(len(ACCOUNT_WORDS[1])))]}"
        )
        created = self.clock - timedelta(days=age_days)
        qualification = {}
        if rng.random() < 0.75:
            for category in QUALIFICATION_OFFSETS:
                if rng.random() < 0.7:
                    score = int(np.clip(np.rint(0.45 * stage + rng.normal(0.3, 0.9)), 0, 3))
                    qualification[category.value] = qualification_entry(rng, score, rng.random() < 0.6)
        deal = {
            "tenant_id": self.tenant_id,
            "deal_id": f"{self.tenant_id}-live-{self.serial:05d}",
            "name": f"{account} — {product.replace('_', ' ')}",
            "account_name": account,
            "amount": float(max(1000.0, round(typical_amount * float(np.exp(rng.normal(0, 0.6))), -2))),
            "currency": "USD",
            "stage": OPEN_STAGES[stage].value,
            "crm_stage": OPEN_STAGES[stage].value.replace("_", " ").title(),
            "forecast_category": FORECAST_BY_STAGE[stage],
            "industry": pick(rng, INDUSTRIES),
            "region": pick(rng, REGIONS),
            "product_type": product,
            "lead_source": pick(rng, LEAD_SOURCES),
            "owner_id": rep.owner_id,
            "owner_name": rep.name,
            "manager_id": rep.manager_id,
            "created_at": created.isoformat(),
            "expected_close_date": (created + timedelta(days=typical_cycle * float(rng.uniform(0.8, 1.4))))
            .date()
            .isoformat(),
            "closed_at": None,
            "is_closed": False,
            "is_won": None,
            "last_activity_at": (self.clock - timedelta(days=float(rng.exponential(5.0)))).isoformat(),
            "qualification": qualification,
            "custom": {},
            "source_modified_at": self.clock.isoformat(),
        }
        self.open[deal["deal_id"]] = deal
        return deal

    def change(self) -> dict[str, Any]:
        rng = self.rng
        kinds, weights = list(CHANGE_WEIGHTS), np.array(list(CHANGE_WEIGHTS.values()))
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        if kind == "new" or len(self.open) < POOL_SIZE // 2:
            return self.new_deal()
        deal = self.open[list(self.open)[int(rng.integers(len(self.open)))]]
        stage = [s.value for s in OPEN_STAGES].index(deal["stage"])
        if kind == "activity":
            deal["last_activity_at"] = self.clock.isoformat()
        elif kind == "stage" and stage < len(OPEN_STAGES) - 1:
            deal["stage"] = OPEN_STAGES[stage + 1].value
            deal["crm_stage"] = OPEN_STAGES[stage + 1].value.replace("_", " ").title()
            deal["forecast_category"] = FORECAST_BY_STAGE[stage + 1]
        elif kind == "push":
            pushed = datetime.fromisoformat(deal["expected_close_date"]) + timedelta(days=int(rng.integers(14, 46)))
            deal["expected_close_date"] = pushed.date().isoformat()
        elif kind == "amount":
            deal["amount"] = float(round(deal["amount"] * float(rng.uniform(0.8, 1.25)), -2))
        elif kind == "qualification":
            category = list(QUALIFICATION_OFFSETS)[int(rng.integers(len(QUALIFICATION_OFFSETS)))].value
            current = deal["qualification"].get(category, {"score": 0})["score"]
            score = int(np.clip(current + (1 if rng.random() < 0.75 else -1), 0, 3))
            deal["qualification"] = {**deal["qualification"], category: qualification_entry(rng, score, True)}
        elif kind == "forecast":
            deal["forecast_category"] = str(rng.choice(["pipeline", "best_case", "commit"]))
        elif kind == "close":
            won = bool(rng.random() < 0.2 + 0.1 * stage)
            deal.update(
                stage="closed_won" if won else "closed_lost",
                crm_stage="Closed Won" if won else "Closed Lost",
                forecast_category="closed",
                is_closed=True,
                is_won=won,
                closed_at=self.clock.isoformat(),
            )
            del self.open[deal["deal_id"]]
        else:  # a stage change at the last open stage: just log activity
            deal["last_activity_at"] = self.clock.isoformat()
        deal["source_modified_at"] = self.clock.isoformat()
        return deal


def open_deal_changes(
    n: int,
    tenant_id: str = "demo",
    seed: int = 0,
    *,
    start: datetime | None = None,
    step_seconds: float = 1.0,
) -> Iterator[dict[str, Any]]:
    """``n`` deal snapshots: first the opening pipeline (creations), then a random mix of changes to it
    (activity, qualification, stage moves, close-date pushes, amount and forecast changes, closes and new
    deals). ``modified_at`` starts at ``start`` (default now) and advances ``step_seconds`` per change."""
    rng = np.random.default_rng(seed)
    clock = (start or datetime.now(UTC)).astimezone(UTC)
    pipeline = _DemoPipeline(tenant_id, rng, clock)
    for i in range(n):
        pipeline.clock = clock + timedelta(seconds=i * step_seconds)
        deal = pipeline.new_deal() if i < POOL_SIZE else pipeline.change()
        snapshot = {**deal, "qualification": dict(deal["qualification"]), "custom": dict(deal["custom"])}
        yield {**snapshot, "modified_at": pipeline.clock.isoformat()}
