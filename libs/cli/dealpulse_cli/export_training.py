"""``dealpulse export-training``: the live store's deals as point-in-time training rows ``dealpulse train`` takes.

Reads ingest's record of every applied change (``deal_events``) as the application role, under the tenant's
row-level security, and builds the rows with ``dealpulse_scorer.training.from_store`` (the fold ingest uses).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path

import asyncpg

from dealpulse_common.db import create_pool, tenant_transaction
from dealpulse_ingest import store
from dealpulse_scorer.training.dataset import write_deals
from dealpulse_scorer.training.from_store import ExportSummary, LoggedChange, training_rows


async def _deal_logs(conn: asyncpg.Connection, tenant_id: str) -> AsyncIterator[tuple[str, list[LoggedChange]]]:
    """Each deal's changes in apply order (the log arrives sorted by deal)."""
    current: str | None = None
    log: list[LoggedChange] = []
    async for record in store.deal_change_log(conn, tenant_id):
        if record["deal_id"] != current:
            if current is not None:
                yield current, log
            current, log = record["deal_id"], []
        log.append(LoggedChange(record["source_modified_at"], record["changes"], record["changed_fields"]))
    if current is not None:
        yield current, log


async def export_training(database_url: str, tenant_id: str, out: Path, *, as_of: datetime,
                          since: date | None) -> ExportSummary:
    """Write the tenant's training rows to ``out`` (CSV, or Parquet for .parquet) and say what was left out."""
    summary = ExportSummary()
    pool = await create_pool(database_url, max_size=1)
    try:
        async with tenant_transaction(pool, tenant_id) as conn:
            logs = [entry async for entry in _deal_logs(conn, tenant_id)]
    finally:
        await pool.close()
    write_deals(training_rows(tenant_id, logs, as_of=as_of, since=since, summary=summary), out)
    return summary


def summary_text(summary: ExportSummary, out: Path, as_of: datetime, since: date | None) -> str:
    facts = {"out": str(out), "as_of": as_of.isoformat(), "since": since.isoformat() if since else None,
             **summary.to_dict()}
    return json.dumps(facts, indent=2)
