"""Which deals a model learns from and is tested on: closed deals seen before they closed, split by time.

Shared by training and evaluation, so ``dealpulse evaluate`` on the training file looks at exactly the test
split that training reported. Serving-safe (numpy only), like ``dataset``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from dealpulse_common.deal import CanonicalDeal
from dealpulse_scorer.features import as_utc
from dealpulse_scorer.training.dataset import read_deals
from dealpulse_scorer.training.progress import Progress

TEST_FRACTION = 0.2
CALIBRATION_FRACTION = 0.2  # of the training split, the most recent part

DROP_REASONS: tuple[str, ...] = (
    "open_or_unknown_outcome",
    "no_closed_at",
    "observed_after_close",
    "state_after_as_of",
    "other_tenant",
)


@dataclass
class ClosedDeals:
    deals: list[CanonicalDeal]
    as_ofs: list[datetime]
    outcomes: np.ndarray  # 1 won, 0 lost
    closed_ats: list[datetime]

    def take(self, index: np.ndarray) -> ClosedDeals:
        return ClosedDeals(
            deals=[self.deals[i] for i in index],
            as_ofs=[self.as_ofs[i] for i in index],
            outcomes=self.outcomes[index],
            closed_ats=[self.closed_ats[i] for i in index],
        )

    def __len__(self) -> int:
        return len(self.deals)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def state_after_as_of(deal: CanonicalDeal, as_of: datetime) -> bool:
    """True when the row carries a moment later than the time it claims to show the deal at: activity logged,
    a stage entered or the snapshot modified after ``as_of`` is information from the future (for a closed
    deal, typically post-close activity, which would read as "recently active" and leak wins)."""
    moments = (deal.created_at, deal.last_activity_at, deal.history.stage_entered_at, deal.source_modified_at)
    return any(moment is not None and as_utc(moment) > as_of for moment in moments)


def load_closed_deals(
    data_path: Path, tenant_id: str | None, progress: Progress | None = None,
    open_deals: list[tuple[CanonicalDeal, datetime]] | None = None,
) -> tuple[ClosedDeals, dict[str, int]]:
    """Closed deals with a known outcome, sorted by close time; rows that could leak are dropped and counted.
    The (tenant's) open deals, with their ``as_of``, are appended to ``open_deals`` when it is given."""
    progress = progress or Progress.silent()
    with progress.step(f"reading {data_path.name}", unit="rows", key="read") as tick:
        rows = read_deals(data_path, tick)
    kept: list[tuple[datetime, CanonicalDeal, datetime, bool]] = []
    dropped = dict.fromkeys(DROP_REASONS, 0)
    for deal, as_of, outcome in rows:
        if tenant_id is not None and deal.tenant_id != tenant_id:
            dropped["other_tenant"] += 1
        elif outcome is None:
            dropped["open_or_unknown_outcome"] += 1
            if open_deals is not None and not deal.is_closed:
                open_deals.append((deal, as_of))
        elif deal.closed_at is None:
            dropped["no_closed_at"] += 1
        elif as_of >= as_utc(deal.closed_at):
            dropped["observed_after_close"] += 1  # its features could already know the outcome
        elif state_after_as_of(deal, as_of):
            dropped["state_after_as_of"] += 1
        else:
            kept.append((as_utc(deal.closed_at), deal, as_of, outcome))
    kept.sort(key=lambda item: (item[0], item[1].tenant_id, item[1].deal_id))
    closed = ClosedDeals(
        deals=[k[1] for k in kept],
        as_ofs=[k[2] for k in kept],
        outcomes=np.array([int(k[3]) for k in kept], dtype=int),
        closed_ats=[k[0] for k in kept],
    )
    return closed, dropped


def time_split(data: ClosedDeals) -> tuple[ClosedDeals, ClosedDeals]:
    """(training split, test split): the latest ``TEST_FRACTION`` of closes (``data`` is sorted) are the test."""
    cut = int(len(data) * (1 - TEST_FRACTION))
    return data.take(np.arange(cut)), data.take(np.arange(cut, len(data)))


def calibration_start(n_train: int) -> int:
    """Index in the training split where the calibration slice (its most recent part) begins."""
    return int(n_train * (1 - CALIBRATION_FRACTION))
