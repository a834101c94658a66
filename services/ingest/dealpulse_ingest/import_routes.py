"""Bulk import endpoints: ``POST /v1/imports`` (a CSV or XLSX body, streamed) and ``GET /v1/imports/{id}``.

The file is the raw request body (``Content-Type: text/csv`` or the XLSX media type), spooled to disk as it
arrives, so a large export never sits in memory. The column mapping is an optional ``mapping`` query parameter
holding the mapping file's JSON. Callers are tenant admins with a DealPulse JWT; the tenant is the token's.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from dealpulse_common.db import DATABASE_UNAVAILABLE
from dealpulse_common.http_auth import CurrentAdmin
from dealpulse_common.service import ServiceUnavailable, problem
from dealpulse_ingest.imports.jobs import ImportRunner, read_job
from dealpulse_ingest.imports.mapping import ColumnPlan, MappingError, parse_mapping
from dealpulse_ingest.imports.reader import (
    XLSX_MEDIA_TYPE,
    FileFormat,
    TooLarge,
    UnreadableFile,
    UnsupportedFormat,
    detect_format,
    open_tabular,
    spool,
)

router = APIRouter(tags=["imports"])
# Retry-After of an upload refused for want of a database (reading a job uses INGEST_RETRY_AFTER_S, as webhooks do).
START_RETRY_AFTER_S = 5


def _runner(request: Request) -> ImportRunner:
    runner: ImportRunner = request.app.state.import_runner
    return runner


@router.post(
    "/v1/imports",
    status_code=202,
    responses={400: {"description": "Unreadable file or mapping"}, 401: {"description": "Missing or bad token"},
               403: {"description": "Not an admin"}, 413: {"description": "File too large"},
               415: {"description": "Neither CSV nor XLSX"}, 422: {"description": "Headers do not map"},
               503: {"description": "Database unavailable; retry"}},
    openapi_extra={"requestBody": {"required": True, "content": {
        "text/csv": {"schema": {"type": "string", "format": "binary"}},
        XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}},
)
async def start_import(
    request: Request,
    caller: CurrentAdmin,
    content_type: Annotated[str | None, Header()] = None,
    # A transport header, not an API parameter: documented, a client (or a fuzzer) would be invited to lie in it.
    content_length: Annotated[int | None, Header(include_in_schema=False)] = None,
    mapping: Annotated[str | None, Query(description="the column-mapping JSON: {\"CRM header\": \"field\"}")] = None,
    filename: Annotated[str | None, Query(max_length=255)] = None,
) -> JSONResponse:
    """Start importing one file; answers at once with the job id to follow on ``GET /v1/imports/{id}``."""
    runner = _runner(request)
    limit = runner.settings.max_bytes
    if content_length is not None and content_length > limit:
        return problem(413, "Payload too large", f"file exceeds {limit} bytes")
    if (content_type or "").lower().startswith("multipart/"):
        return problem(415, "Unsupported media type",
                       f"send the file itself as the body (text/csv or {XLSX_MEDIA_TYPE}), the mapping as ?mapping=")
    try:
        columns = parse_mapping(mapping)
    except MappingError as exc:
        return _mapping_problem(exc)

    spool_dir = runner.settings.spool_dir
    handle = tempfile.NamedTemporaryFile(prefix="dealpulse-import-", dir=spool_dir, delete=False)  # noqa: SIM115
    path = Path(handle.name)
    keep = False
    try:
        with handle:
            size, head = await spool(request.stream(), handle, limit)
        if size == 0:
            return problem(400, "Bad request", "the body is empty: send the file as the request body")
        file_format = detect_format(content_type, filename, head)
        total = await asyncio.to_thread(_check_headers, path, file_format, columns)
        job_id = await runner.submit(caller.tenant_id, caller.user_id, path, file_format, filename, columns, total)
        keep = True  # the job owns the file now and deletes it when done
    except TooLarge as exc:
        return problem(413, "Payload too large", str(exc))
    except UnsupportedFormat as exc:
        return problem(415, "Unsupported media type", str(exc))
    except UnreadableFile as exc:
        return problem(400, "Bad request", str(exc))
    except MappingError as exc:
        return _mapping_problem(exc)
    except DATABASE_UNAVAILABLE:
        raise ServiceUnavailable("database unavailable; nothing was started, retry later",
                                 START_RETRY_AFTER_S) from None
    except ClientDisconnect:
        # The uploader went away mid-file (nobody reads this answer); nothing was started.
        return problem(400, "Bad request", "the upload ended before the file did")
    finally:
        if not keep:
            await asyncio.to_thread(path.unlink, missing_ok=True)
    location = f"/v1/imports/{job_id}"
    return JSONResponse({"id": str(job_id), "status": "queued", "format": file_format.value, "total_rows": total,
                         "url": location}, status_code=202, headers={"Location": location})


def _check_headers(path: Path, file_format: FileFormat, columns: dict[str, str]) -> int | None:
    """Refuse a file whose headers cannot map before a job exists: a wrong mapping is one error, not 100,000."""
    tabular = open_tabular(path, file_format)
    try:
        ColumnPlan(tabular.headers, columns)
        return tabular.total_rows
    finally:
        tabular.close()


def _mapping_problem(exc: MappingError) -> JSONResponse:
    status = 422 if exc.errors else 400
    title = "Invalid mapping" if exc.errors else "Bad request"
    return problem(status, title, str(exc), errors=exc.errors)


@router.get("/v1/imports/{job_id}", responses={401: {"description": "Missing or bad token"},
                                                403: {"description": "Not an admin"},
                                                404: {"description": "No such import for this tenant"}})
async def get_import(request: Request, job_id: str, caller: CurrentAdmin) -> JSONResponse:
    """Status, counts and the first 1,000 row errors of one import."""
    try:
        parsed = uuid.UUID(job_id)
    except ValueError:
        return problem(404, "Not found", f"no import {job_id}")
    runner = _runner(request)
    try:
        job = await read_job(request.app.state.pool, caller.tenant_id, parsed, runner.settings.stale_after_s)
    except DATABASE_UNAVAILABLE:
        raise ServiceUnavailable("database unavailable; retry later",
                                 request.app.state.settings.retry_after_s) from None
    if job is None:
        return problem(404, "Not found", f"no import {job_id}")
    return JSONResponse(job)
