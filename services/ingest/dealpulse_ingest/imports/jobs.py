"""Import jobs: run an uploaded file through ``Ingestor`` in the background and keep its progress in PostgreSQL.

Semantics:
* every valid row becomes a ``GenericDealChange`` and takes the one path every change takes (prepare, ingest), with
  a deterministic event id, so a re-run of the same file is all duplicates and scores nothing twice;
* an invalid row is recorded (row, field, reason) and skipped; a row the broker or database cannot take right now
  is retried with backoff and never dropped: if they stay away past ``give_up_after_s`` the job fails;
* rows of one deal are handled in file order (one worker per deal hash) so a history load keeps its sequence,
  while different deals run concurrently, bounded by one semaphore shared by all jobs of the process;
* a worker stores and publishes the rows it has queued in chunks, one transaction each (``Ingestor.ingest_many``);
* a job interrupted by a restart is marked failed on its next read, with how many rows were processed; re-running
  the same file resumes it in effect (what was imported comes back as duplicates).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from pydantic_settings import BaseSettings, SettingsConfigDict

from dealpulse_common.backoff import with_backoff
from dealpulse_common.db import DATABASE_UNAVAILABLE, create_pool, tenant_transaction
from dealpulse_common.events import IMPORT_PROVIDER, utcnow
from dealpulse_common.kafka import EventPublisher, PublishError
from dealpulse_common.tenant_cache import TenantCache
from dealpulse_common.tracing import continue_trace
from dealpulse_ingest import store
from dealpulse_ingest.handlers import Outcome
from dealpulse_ingest.imports.mapping import ColumnPlan, row_event_id, validate_row
from dealpulse_ingest.imports.reader import FileFormat, open_tabular
from dealpulse_ingest.ingestor import Ingestor
from dealpulse_ingest.normalize import StageMapping
from dealpulse_ingest.payloads import GenericDealChange

log = logging.getLogger(__name__)
REPORTED_ERRORS = 1_000
RESUME_HINT = "; re-run the same file to resume, rows already imported come back as duplicates"
_BATCH_ROWS = 500
# Nothing of a chunk was stored when these end its attempt (ingest's contract), so retrying cannot duplicate it.
# A deadlock is another job's chunk locking the same deals in another order: PostgreSQL rolled one back whole.
_RETRIED = (PublishError, asyncpg.DeadlockDetectedError, *DATABASE_UNAVAILABLE)


class ImportSettings(BaseSettings):
    """Import tuning, ``INGEST_IMPORT_*`` (kept apart from IngestSettings, which the webhook edge owns)."""

    model_config = SettingsConfigDict(env_prefix="INGEST_IMPORT_", extra="ignore")

    max_bytes: int = 512 * 1024 * 1024
    # Chunks in flight at once across all jobs of the process. Each holds a connection until the broker acks its
    # changes (one transaction per chunk), so imports get a pool of this size of their own: a 100k-row load can
    # then neither starve webhooks of connections nor be throttled to the webhook pool's size.
    concurrency: int = 8
    # Rows stored in one transaction and published in one round of acknowledgements. Larger chunks cost fewer
    # round trips; a chunk fails or succeeds whole, and holds its deals' rows locked until the broker acked.
    chunk_rows: int = 100
    stored_errors: int = 10_000  # per job; the counts stay exact beyond it
    flush_interval_s: float = 1.0
    stale_after_s: float = 60.0  # no heartbeat for this long: the process running the job is gone
    give_up_after_s: float = 300.0  # broker/database away this long: fail the job rather than hang forever
    spool_dir: Path | None = None


class ImportAborted(RuntimeError):
    """The broker or database stayed unavailable past the retry budget."""


@dataclass
class _Progress:
    processed: int = 0
    accepted: int = 0
    duplicates: int = 0
    stale: int = 0
    rejected: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    stored_errors: int = 0

    def count(self, outcome: Outcome) -> None:
        self.processed += 1
        if outcome is Outcome.ACCEPTED:
            self.accepted += 1
        elif outcome is Outcome.DUPLICATE:
            self.duplicates += 1
        else:
            self.stale += 1


@dataclass(frozen=True)
class ImportJob:
    tenant_id: str
    job_id: uuid.UUID
    path: Path
    file_format: FileFormat
    mapping: dict[str, str]


# One converted row: its number, and either the change or its errors.
_Converted = tuple[int, GenericDealChange | None, list[dict[str, str]]]


class ImportRunner:
    """Runs the import jobs of one ingest process on a pool of its own (opened on first use)."""

    def __init__(self, database_url: str, publisher: EventPublisher, settings: ImportSettings,
                 stage_mappings: TenantCache[StageMapping]) -> None:
        self._database_url = database_url
        self._publisher = publisher
        self._stage_mappings = stage_mappings
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self._ingestor: Ingestor | None = None
        self._opening = asyncio.Lock()
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()  # strong references: the loop keeps only weak ones

    async def pool(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                # + 2: the progress flusher and job bookkeeping never wait behind rows in flight.
                self._pool = await create_pool(self._database_url, max_size=self.settings.concurrency + 2)
                self._ingestor = Ingestor(self._pool, self._publisher, stage_mappings=self._stage_mappings)
        return self._pool

    async def close(self) -> None:
        """Stop running jobs (they are marked failed by their stale heartbeat, and a re-run resumes them as
        duplicates) and close the pool."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()

    async def submit(self, tenant_id: str, user_id: str, path: Path, file_format: FileFormat, file_name: str | None,
                     mapping: dict[str, str], total_rows: int | None) -> uuid.UUID:
        job = ImportJob(tenant_id, uuid.uuid4(), path, file_format, mapping)
        async with tenant_transaction(await self.pool(), tenant_id) as conn:
            await store.insert_import_job(conn, tenant_id, job.job_id, file_name=file_name,
                                          file_format=file_format.value, mapping=mapping, created_by=user_id,
                                          total_rows=total_rows)
        task = asyncio.create_task(self._run(job), name=f"import-{job.job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job.job_id

    async def _run(self, job: ImportJob) -> None:
        progress = _Progress()
        stop_flushing = asyncio.Event()
        try:
            tabular = await asyncio.to_thread(open_tabular, job.path, job.file_format)
            try:
                plan = ColumnPlan(tabular.headers, job.mapping)
                await self._record(job, store.start_import_job, tabular.total_rows)
                flusher = asyncio.create_task(self._flush_periodically(job, progress, stop_flushing))
                try:
                    await self._pump(job, tabular.rows, plan, progress)
                finally:
                    stop_flushing.set()
                    await flusher
            finally:
                await asyncio.to_thread(tabular.close)
            await self._flush(job, progress)
            await self._record(job, store.finish_import_job)
            log.info("import %s done: %s", job.job_id, progress)
        except asyncio.CancelledError:
            await self._fail_quietly(job, progress, "interrupted: the ingest service stopped", RESUME_HINT)
            raise
        except Exception as exc:  # any failure must end in a failed job the user can see, never a silent stop
            log.exception("import %s failed", job.job_id)
            await self._fail_quietly(job, progress, _describe(exc))
        finally:
            await asyncio.to_thread(job.path.unlink, missing_ok=True)

    async def _pump(self, job: ImportJob, rows: Any, plan: ColumnPlan, progress: _Progress) -> None:
        """Read in a thread (parsing is CPU work), dispatch valid rows to per-deal-hash workers."""
        queues: list[asyncio.Queue[tuple[int, GenericDealChange] | None]] = [
            asyncio.Queue(2 * self.settings.chunk_rows) for _ in range(self.settings.concurrency)]
        async with asyncio.TaskGroup() as group:
            for queue in queues:
                group.create_task(self._work(job, queue, progress))
            # If a worker fails, the group cancels this loop and the other workers; no sentinel is needed then.
            while batch := await asyncio.to_thread(_convert_batch, rows, plan, _BATCH_ROWS):
                for number, change, errors in batch:
                    if change is None:
                        progress.processed += 1
                        progress.rejected += 1
                        progress.errors.extend((number, e["field"], e["reason"]) for e in errors)
                        continue
                    shard = zlib.crc32(change.deal_id.encode()) % len(queues)
                    await queues[shard].put((number, change))
            for queue in queues:
                await queue.put(None)

    async def _work(self, job: ImportJob, queue: asyncio.Queue[tuple[int, GenericDealChange] | None],
                    progress: _Progress) -> None:
        finished = False
        while not finished:
            chunk, finished = await _take_chunk(queue, self.settings.chunk_rows)
            if chunk:
                for outcome in await self._ingest(job, chunk):
                    progress.count(outcome)

    async def _ingest(self, job: ImportJob, changes: list[GenericDealChange]) -> list[Outcome]:
        assert self._ingestor is not None  # submit opened the pool before starting the job
        ingestor = self._ingestor

        async def attempt() -> list[Outcome]:
            async with self._slots:
                # prepare is inside the retry: it reads the tenant's stage mapping and may find no database.
                prepared = [await ingestor.prepare(
                    job.tenant_id, change, provider=IMPORT_PROVIDER, event_id=row_event_id(job.tenant_id, change),
                    traceparent=continue_trace(None), received_at=utcnow()) for change in changes]
                return await ingestor.ingest_many(prepared)

        try:
            return await with_backoff(attempt, _RETRIED, self.settings.give_up_after_s, what=f"import {job.job_id}",
                                      max_delay_s=10.0)
        except _RETRIED as exc:
            raise ImportAborted(f"broker or database unavailable for {self.settings.give_up_after_s:.0f} s:"
                                f" {_describe(exc)}") from exc

    async def _flush_periodically(self, job: ImportJob, progress: _Progress, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.flush_interval_s)
            try:
                await self._flush(job, progress)
            except DATABASE_UNAVAILABLE:
                log.warning("import %s: progress not saved (database unavailable); next time", job.job_id)

    async def _flush(self, job: ImportJob, progress: _Progress) -> None:
        """Save counters, heartbeat and new errors; errors beyond the cap are counted, not stored."""
        room = max(self.settings.stored_errors - progress.stored_errors, 0)
        pending, progress.errors = progress.errors[:room], []
        try:
            async with tenant_transaction(await self.pool(), job.tenant_id) as conn:
                await store.save_import_progress(
                    conn, job.tenant_id, job.job_id, errors=pending, processed=progress.processed,
                    accepted=progress.accepted, duplicates=progress.duplicates, stale=progress.stale,
                    rejected=progress.rejected)
        except BaseException:
            progress.errors[:0] = pending  # keep them for the next flush rather than lose the report
            raise
        progress.stored_errors += len(pending)

    async def _record(self, job: ImportJob, write: Callable[..., Awaitable[None]], *args: Any) -> None:
        """One write of the job's own row (``write(conn, tenant_id, job_id, *args)``) in its own transaction."""
        async with tenant_transaction(await self.pool(), job.tenant_id) as conn:
            await write(conn, job.tenant_id, job.job_id, *args)

    async def _fail_quietly(self, job: ImportJob, progress: _Progress, reason: str, hint: str = "") -> None:
        try:
            await self._flush(job, progress)
            await self._record(job, store.fail_import_job, f"{reason} (after {progress.processed} rows){hint}")
        except Exception:  # best effort: a stale heartbeat marks the job failed on its next read anyway
            log.warning("import %s: could not record the failure", job.job_id, exc_info=True)


async def _take_chunk(queue: asyncio.Queue[tuple[int, GenericDealChange] | None],
                      size: int) -> tuple[list[GenericDealChange], bool]:
    """Up to ``size`` queued changes: waits for the first, then takes only what is already there, so a chunk
    never waits to fill. True once the end of the file was reached."""
    chunk: list[GenericDealChange] = []
    item = await queue.get()
    while item is not None:
        chunk.append(item[1])
        if len(chunk) >= size or queue.empty():
            return chunk, False
        item = queue.get_nowait()
    return chunk, True


def _convert_batch(rows: Any, plan: ColumnPlan, size: int) -> list[_Converted]:
    batch: list[_Converted] = []
    for number, values in rows:
        document, errors = plan.to_document(values)
        change, invalid = (None, errors) if errors else validate_row(document)
        batch.append((number, change, invalid))
        if len(batch) >= size:
            break
    return batch


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def read_job(pool: asyncpg.Pool, tenant_id: str, job_id: uuid.UUID,
                   stale_after_s: float) -> dict[str, Any] | None:
    """The job's public state, marking it failed first if its runner stopped beating (process restart)."""
    async with tenant_transaction(pool, tenant_id) as conn:
        await store.expire_import_job(conn, tenant_id, job_id, stale_after_s, RESUME_HINT)
        job = await store.import_job(conn, tenant_id, job_id)
        if job is None:
            return None
        errors = await store.import_errors(conn, tenant_id, job_id, REPORTED_ERRORS + 1)
    return _public(job, errors)


def _public(job: asyncpg.Record, errors: Sequence[asyncpg.Record]) -> dict[str, Any]:
    def stamp(name: str) -> str | None:
        value = job[name]
        return value.isoformat() if value else None

    return {
        "id": str(job["job_id"]), "status": job["status"], "format": job["format"], "file_name": job["file_name"],
        "total_rows": job["total_rows"], "processed": job["processed"], "accepted": job["accepted"],
        "duplicates": job["duplicates"], "stale": job["stale"], "rejected": job["rejected"],
        "errors": [{"row": e["row_number"], "field": e["field"], "reason": e["reason"]}
                   for e in errors[:REPORTED_ERRORS]],
        "errors_truncated": len(errors) > REPORTED_ERRORS,
        "failure": job["failure"], "created_at": stamp("created_at"), "started_at": stamp("started_at"),
        "finished_at": stamp("finished_at"),
    }
