"""Leakage: what a deal's training features may know is what was known at ``as_of``, before it closed.

Shuffling or removing the post-close information (outcome, close time) leaves every feature row identical;
a closed deal's training row is the row the scorer computes for the same deal, still open, at ``as_of``; a
row carrying information from after ``as_of`` is never trained on; and a deal's own outcome never reaches
its own training row through the segment priors.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dealpulse_common.deal import CanonicalDeal
from dealpulse_scorer.features import SegmentPriors, build_matrix
from dealpulse_scorer.training.dataset import read_deals, write_deals
from dealpulse_scorer.training.split import ClosedDeals, load_closed_deals, time_split
from dealpulse_scorer.training.synthetic import generate
from dealpulse_scorer.training.train import out_of_fold_matrix
from tests.unit.scorer.helpers import TrainedModel

Rows = list[dict[str, Any]]
POST_CLOSE_FIELDS = ("is_closed", "is_won", "closed_at")


@pytest.fixture(scope="module")
def rows() -> Rows:
    return generate(1500, n_tenants=2, seed=21)


@pytest.fixture(scope="module")
def priors(rows: Rows, tmp_path_factory: pytest.TempPathFactory) -> SegmentPriors:
    data, _ = load_closed_deals(write_deals(rows, tmp_path_factory.mktemp("priors") / "d.csv"), None)
    return SegmentPriors.fit(data.deals, [bool(y) for y in data.outcomes])


def features_by_deal(path: Path, priors: SegmentPriors) -> dict[str, np.ndarray]:
    """Every row of the file, read as training reads it, as the feature vector training would build."""
    deals = read_deals(path)
    matrix = build_matrix([d for d, _, _ in deals], [a for _, a, _ in deals], priors)
    return {deal.deal_id: matrix[i] for i, (deal, _, _) in enumerate(deals)}


def shuffled_outcomes(rows: Rows, seed: int) -> Rows:
    """Outcomes permuted among the closed deals; each close moved to another moment after its ``as_of``."""
    rng = np.random.default_rng(seed)
    changed = [dict(r) for r in rows]
    closed = [r for r in changed if r["is_closed"]]
    outcomes = [r["is_won"] for r in closed]
    rng.shuffle(outcomes)
    for row, won in zip(closed, outcomes, strict=True):
        row["is_won"] = won
        as_of = datetime.fromisoformat(str(row["as_of"]))
        row["closed_at"] = (as_of + timedelta(days=float(rng.uniform(0.5, 400)))).isoformat()
    return changed


def removed_outcomes(rows: Rows) -> Rows:
    return [{**r, "is_closed": False, "is_won": None, "closed_at": None} for r in rows]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("variant", ["shuffled", "removed"])
def test_post_close_information_does_not_change_the_features(
    rows: Rows, priors: SegmentPriors, tmp_path: Path, variant: str, fmt: str
) -> None:
    original = features_by_deal(write_deals(rows, tmp_path / f"original.{fmt}"), priors)
    changed_rows = shuffled_outcomes(rows, seed=3) if variant == "shuffled" else removed_outcomes(rows)
    assert any(a[f] != b[f] for a, b in zip(rows, changed_rows, strict=True) for f in POST_CLOSE_FIELDS)
    changed = features_by_deal(write_deals(changed_rows, tmp_path / f"changed.{fmt}"), priors)
    assert changed.keys() == original.keys()
    matrix = np.vstack([original[k] for k in sorted(original)])
    assert np.array_equal(np.vstack([changed[k] for k in sorted(original)]), matrix)


def test_shuffled_outcomes_keep_the_same_training_rows(rows: Rows, tmp_path: Path) -> None:
    data, _ = load_closed_deals(write_deals(rows, tmp_path / "a.csv"), None)
    shuffled, _ = load_closed_deals(write_deals(shuffled_outcomes(rows, seed=4), tmp_path / "b.csv"), None)
    assert {d.deal_id for d in data.deals} == {d.deal_id for d in shuffled.deals}


def as_it_stood_at_as_of(deal: CanonicalDeal) -> CanonicalDeal:
    """The same deal before it closed: no outcome, no close time."""
    return deal.model_copy(update={"is_closed": False, "is_won": None, "closed_at": None})


def test_a_closed_deals_training_row_is_its_open_state_at_as_of(trained: TrainedModel) -> None:
    """The test split's rows, as training built them, equal what the served model computes for each deal
    as it stood, still open, at its ``as_of``."""
    assert trained.result is not None
    data, _ = load_closed_deals(trained.data_path, None)
    _, test_split = time_split(data)
    assert all(a < c for a, c in zip(test_split.as_ofs, test_split.closed_ats, strict=True))
    served = np.vstack([
        trained.model.features(as_it_stood_at_as_of(deal), as_of)
        for deal, as_of in zip(test_split.deals, test_split.as_ofs, strict=True)
    ])
    assert served.shape == trained.result.x_test.shape
    assert np.array_equal(served, trained.result.x_test)
    assert np.array_equal(trained.result.y_test, test_split.outcomes)


def test_rows_carrying_information_from_after_as_of_are_not_trained_on(rows: Rows, tmp_path: Path) -> None:
    leaky = [dict(r) for r in rows]
    closed = [r for r in leaky if r["is_closed"]]
    for row in closed[:20]:  # activity logged after the deal closed ("recently active" would leak a win)
        row["last_activity_at"] = (datetime.fromisoformat(str(row["closed_at"])) + timedelta(days=3)).isoformat()
    for row in closed[20:30]:  # the snapshot itself was modified after as_of
        row["source_modified_at"] = row["closed_at"]
    data, dropped = load_closed_deals(write_deals(leaky, tmp_path / "leaky.csv"), None)
    assert dropped["state_after_as_of"] == 30
    assert len(data) == len(closed) - 30
    kept = {d.deal_id for d in data.deals}
    assert not kept & {str(r["deal_id"]) for r in closed[:30]}


def test_a_deals_own_outcome_never_feeds_its_own_training_row(rows: Rows, tmp_path: Path) -> None:
    data, _ = load_closed_deals(write_deals(rows, tmp_path / "d.csv"), None)
    before = out_of_fold_matrix(data, seed=0)
    for row in (0, len(data) // 2, len(data) - 1):
        outcomes = data.outcomes.copy()
        outcomes[row] = 1 - outcomes[row]
        after = out_of_fold_matrix(ClosedDeals(data.deals, data.as_ofs, outcomes, data.closed_ats), seed=0)
        assert np.array_equal(after[row], before[row]), f"row {row} saw its own flipped outcome"
        assert not np.array_equal(after, before), "the flip moves other folds' priors (the check has teeth)"
