"""The training data format: one flat row per deal in the canonical schema, observed at ``as_of``.

Columns are CanonicalDeal's fields (``qualification`` and ``custom`` as JSON text), DealHistory's fields
flattened, and ``as_of`` — the moment the row's state was observed, which for a closed deal must be before
``closed_at``. ``is_closed``, ``is_won`` and ``closed_at`` are the outcome (label), never a feature.
Empty cells mean "unknown". CSV always; Parquet (``.parquet`` / ``.pq``) too when pyarrow is installed (the
scorer's ``training`` extra). Our Parquet files are typed: timestamps as UTC microseconds, the close date as a
date, counts as int64, flags as bool, the rest as strings.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from dealpulse_common.deal import CanonicalDeal, DealHistory
from dealpulse_common.history import DealReplay
from dealpulse_scorer.features import as_utc

HISTORY_COLUMNS: tuple[str, ...] = tuple(DealHistory.model_fields)
DEAL_COLUMNS: tuple[str, ...] = tuple(name for name in CanonicalDeal.model_fields if name != "history")
CSV_COLUMNS: tuple[str, ...] = (*DEAL_COLUMNS, *HISTORY_COLUMNS, "as_of")
JSON_COLUMNS = frozenset({"qualification", "custom"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})

LabelledDeal = tuple[CanonicalDeal, datetime, bool | None]
LABEL_COLUMNS = ("is_closed", "is_won", "closed_at")


def replay_row(tenant_id: str, deal_id: str, replay: DealReplay, as_of: datetime,
               outcome: tuple[bool, datetime] | None) -> dict[str, Any]:
    """A training row: the deal as its replay knew it at ``as_of`` (fields and history) and its outcome (won,
    closed_at), or None for a deal still open. The one row builder of every training source."""
    fields = {column: replay.snapshot.get(column) for column in DEAL_COLUMNS if column not in LABEL_COLUMNS}
    fields.update({column: json.dumps(replay.snapshot.get(column) or {}, sort_keys=True) for column in JSON_COLUMNS})
    fields.update(tenant_id=tenant_id, deal_id=deal_id,
                  source_modified_at=replay.modified_at.isoformat() if replay.modified_at else None,
                  is_closed=outcome is not None, is_won=outcome[0] if outcome else None,
                  closed_at=outcome[1].isoformat() if outcome else None)
    history = replay.history(as_of).model_dump(mode="json")
    return {**fields, **history, "as_of": as_of.isoformat()}


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


def is_parquet(path: str | Path) -> bool:
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def write_deals(rows: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write rows as Parquet when ``path`` ends in .parquet or .pq, else as CSV."""
    return write_parquet(rows, path) if is_parquet(path) else write_csv(rows, path)


def write_csv(rows: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    target = Path(path)
    if is_parquet(target):
        raise ValueError(f"{target} names a Parquet file: use write_deals (or write_parquet), not write_csv")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(CSV_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({column: _cell(row.get(column)) for column in CSV_COLUMNS})
    return target


def _column_types() -> dict[str, type]:
    """Each column's Python type (Optional stripped), from the pydantic models: the Parquet schema follows it."""
    fields = {**CanonicalDeal.model_fields, **DealHistory.model_fields}
    kinds: dict[str, type] = {"as_of": datetime}
    for column in CSV_COLUMNS[:-1]:
        annotation = fields[column].annotation
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        kinds[column] = annotation if isinstance(annotation, type) else str
    return kinds


def _pyarrow() -> Any:
    try:
        import pyarrow  # optional: the scorer's training extra
        import pyarrow.parquet
    except ImportError as error:
        raise RuntimeError("Parquet needs pyarrow (pip install 'dealpulse-scorer[training]')") from error
    return pyarrow


def _typed(value: Any, kind: type) -> Any:
    if not _present(value):
        return None
    if isinstance(value, Enum):
        value = value.value
    if kind is datetime:
        return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))
    if kind is date:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    if kind is bool:
        return value if isinstance(value, bool) else str(value).strip().lower() in {"true", "1", "yes"}
    if kind is int:
        return int(value)
    if kind is float:
        return float(value)
    return value if isinstance(value, str) else _cell(value)


def write_parquet(rows: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    pa = _pyarrow()
    arrow_types = {datetime: pa.timestamp("us", tz="UTC"), date: pa.date32(), bool: pa.bool_(),
                   int: pa.int64(), float: pa.float64()}
    kinds = _column_types()
    materialised = list(rows)
    arrays = [
        pa.array([_typed(row.get(column), kinds[column]) for row in materialised],
                 type=arrow_types.get(kinds[column], pa.string()))
        for column in CSV_COLUMNS
    ]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    pa.parquet.write_table(pa.Table.from_arrays(arrays, names=list(CSV_COLUMNS)), target)
    return target


def iter_rows(path: Path, batch_rows: int = 1000) -> Iterator[list[dict[str, Any]]]:
    """The file's raw rows in batches, streamed: a large file is never held twice (raw and parsed)."""
    if is_parquet(path):
        for batch in _pyarrow().parquet.ParquetFile(path).iter_batches(batch_size=batch_rows):
            rows: list[dict[str, Any]] = batch.to_pylist()
            yield rows
        return
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        while batch := list(itertools.islice(reader, batch_rows)):
            yield batch


def _present(value: Any) -> bool:
    """Empty CSV cells, nulls and NaN (how pandas writes a missing number) all mean unknown."""
    if isinstance(value, float):
        return not math.isnan(value)
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


def read_deals(path: str | Path, tick: Callable[[int], None] | None = None) -> list[LabelledDeal]:
    """Every row of a CSV or Parquet file; ``tick(n)`` is called as rows are parsed (for progress)."""
    deals: list[LabelledDeal] = []
    for batch in iter_rows(Path(path)):
        deals.extend(row_to_deal(row) for row in batch)
        if tick is not None:
            tick(len(batch))
    return deals
