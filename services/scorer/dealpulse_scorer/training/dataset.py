"""The training data format: one flat row per deal in the canonical schema, observed at ``as_of``.

Columns are CanonicalDeal's fields (``qualification`` and ``custom`` as JSON text), DealHistory's fields
flattened, and ``as_of`` — the moment the row's state was observed, which for a closed deal must be before
``closed_at``. ``is_closed``, ``is_won`` and ``closed_at`` are the outcome (label), never a feature.
Empty cells mean "unknown". CSV always; Parquet too when pyarrow is installed.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from dealpulse_common.deal import CanonicalDeal, DealHistory
from dealpulse_scorer.features import as_utc

HISTORY_COLUMNS: tuple[str, ...] = tuple(DealHistory.model_fields)
DEAL_COLUMNS: tuple[str, ...] = tuple(name for name in CanonicalDeal.model_fields if name != "history")
CSV_COLUMNS: tuple[str, ...] = (*DEAL_COLUMNS, *HISTORY_COLUMNS, "as_of")
JSON_COLUMNS = frozenset({"qualification", "custom"})

LabelledDeal = tuple[CanonicalDeal, datetime, bool | None]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def write_csv(rows: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(CSV_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({column: _cell(row.get(column)) for column in CSV_COLUMNS})
    return target


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() in {".parquet", ".pq"}:
        try:
            import pyarrow.parquet as parquet  # optional: only for Parquet input
        except ImportError as error:
            raise RuntimeError("reading Parquet needs pyarrow (pip install pyarrow)") from error
        rows: list[dict[str, Any]] = parquet.read_table(path).to_pylist()
        return rows
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _present(value: Any) -> bool:
    return value is not None and value != ""


def row_to_deal(row: Mapping[str, Any]) -> LabelledDeal:
    """(deal as observed at as_of, as_of, outcome: True won / False lost / None open or unknown)."""
    fields: dict[str, Any] = {}
    for column in DEAL_COLUMNS:
        value = row.get(column)
        if not _present(value):
            continue
        fields[column] = json.loads(value) if column in JSON_COLUMNS and isinstance(value, str) else value
    history = {column: row[column] for column in HISTORY_COLUMNS if _present(row.get(column))}
    fields["history"] = DealHistory.model_validate(history)
    deal = CanonicalDeal.model_validate(fields)
    if not _present(row.get("as_of")):
        raise ValueError(f"deal {deal.deal_id}: as_of is required (when were these values observed?)")
    raw_as_of = row["as_of"]
    as_of = as_utc(raw_as_of if isinstance(raw_as_of, datetime) else datetime.fromisoformat(str(raw_as_of)))
    outcome = deal.is_won if deal.is_closed else None
    return deal, as_of, outcome


def read_deals(path: str | Path) -> list[LabelledDeal]:
    return [row_to_deal(row) for row in _read_rows(Path(path))]
