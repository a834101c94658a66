"""Point-in-time training rows from the changes ingest applied: each deal replayed with the fold ingest itself uses
(``dealpulse_common.history``), observed at a documented moment, nothing dated after that moment in its features.

Observation moments (docs/MODEL.md, "Training from the live store"):

* a closed deal once, as the scorer scored it at its last change up to ``first seen + u × (closed − first seen)``,
  ``u`` in [0.2, 0.95) fixed by a hash of its id — somewhere in the life DealPulse saw, as the synthetic generator
  observes its closed deals; its outcome (won or lost, closed_at) comes from its last change;
* an open deal as the scorer scored it at its last change up to the export's moment.

A row's ``as_of`` is that change's time: the scorer scores a deal as of each change, so a row is a score it gave.

Pure: ``dealpulse export-training`` reads the changes and writes the rows.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from dealpulse_common.history import DealReplay
from dealpulse_scorer.training.dataset import replay_row

DELETED, RESTORED = ["deleted"], ["restored"]
OBSERVED_FROM, OBSERVED_UNTIL = 0.2, 0.95


@dataclass(frozen=True)
class LoggedChange:
    """One applied change as ingest recorded it (``deal_events``)."""

    modified_at: datetime
    changes: dict[str, Any] | None  # None: recorded before changes were kept
    changed_fields: Sequence[str]


@dataclass
class ExportSummary:
    rows: int = 0
    closed: int = 0
    open: int = 0
    excluded: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "closed": self.closed, "open": self.open, "excluded": dict(self.excluded)}


def observation_fraction(tenant_id: str, deal_id: str) -> float:
    digest = hashlib.sha256(f"{tenant_id}/{deal_id}".encode()).digest()
    return OBSERVED_FROM + (OBSERVED_UNTIL - OBSERVED_FROM) * int.from_bytes(digest[:8], "big") / 2**64


def _replay_until(log: Sequence[LoggedChange], moment: datetime) -> DealReplay:
    replay = DealReplay()
    for change in log:
        if change.modified_at > moment:
            break
        if change.changes is not None and list(change.changed_fields) not in (DELETED, RESTORED):
            replay.apply(change.changes, change.modified_at)
    return replay


def _closing(log: Sequence[LoggedChange]) -> tuple[datetime, dict[str, Any]] | None:
    """(when the deal closed, its final snapshot) for a deal whose last state is closed, else None."""
    final = _replay_until(log, log[-1].modified_at)
    if not final.snapshot.get("is_closed"):
        return None
    closed_at = next((c.modified_at for c in log if c.changes and c.changes.get("is_closed")), log[-1].modified_at)
    stated = final.snapshot.get("closed_at")
    return (datetime.fromisoformat(stated) if stated else closed_at), final.snapshot


def _exclusion(log: Sequence[LoggedChange]) -> str | None:
    if any(change.changes is None for change in log):
        return "changes recorded before history replay was kept"
    deleted = False
    for change in log:
        if list(change.changed_fields) == DELETED:
            deleted = True
        elif list(change.changed_fields) == RESTORED:
            deleted = False
    return "deleted in the CRM" if deleted else None


def deal_row(tenant_id: str, deal_id: str, log: Sequence[LoggedChange], *, as_of: datetime,
             since: date | None) -> dict[str, Any] | str:
    """The deal's training row, or why it has none."""
    if (why := _exclusion(log)) is not None:
        return why
    first_seen = log[0].modified_at
    closing = _closing(log)
    if closing is None:
        replay = _replay_until(log, as_of)
        if replay.modified_at is None:
            return "first seen after --as-of"
        return replay_row(tenant_id, deal_id, replay, replay.modified_at, outcome=None)
    closed_at, final = closing
    observed = first_seen + observation_fraction(tenant_id, deal_id) * (closed_at - first_seen)
    replay = _replay_until(log, observed)
    if replay.modified_at is None or replay.snapshot.get("is_closed"):
        return "never seen open"
    if since is not None and closed_at.date() < since:
        return "closed before --since"
    return replay_row(tenant_id, deal_id, replay, replay.modified_at, outcome=(bool(final.get("is_won")), closed_at))


def training_rows(tenant_id: str, logs: Iterable[tuple[str, Sequence[LoggedChange]]], *, as_of: datetime,
                  since: date | None, summary: ExportSummary) -> Iterable[dict[str, Any]]:
    """One row per deal that has one; ``summary`` counts the rows and each reason a deal was left out."""
    for deal_id, log in logs:
        row = deal_row(tenant_id, deal_id, log, as_of=as_of, since=since)
        if isinstance(row, str):
            summary.excluded[row] += 1
            continue
        summary.rows += 1
        if row["is_closed"]:
            summary.closed += 1
        else:
            summary.open += 1
        yield row
