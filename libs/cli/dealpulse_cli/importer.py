"""``dealpulse import FILE``: upload a CSV/XLSX export to ingest, follow the job with a progress bar, summarise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import httpx

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CHUNK = 256 * 1024
_BAR_WIDTH = 30
_SHOWN_ERRORS = 50


class ImportFailed(Exception):
    """The upload was refused or the job failed; the message is for the user."""


def token_for(tenant_id: str, token: str | None) -> str:
    """The given token if it is for ``tenant_id``; without one, an admin token signed with the configured secret
    (works where the CLI shares DEALPULSE_JWT_SECRET with the services, as in development)."""
    import jwt

    if not token:
        from dealpulse_common.auth import issue_token
        from dealpulse_common.settings import ServiceSettings

        return issue_token(ServiceSettings().jwt_secret, tenant_id, "admin", "dealpulse-cli", 3600)
    try:
        # Not verified here (ingest does that); read only to catch importing into the wrong tenant by mistake.
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise ValueError(f"--token is not a JWT: {exc}") from exc
    if claims.get("tenant_id") != tenant_id:
        raise ValueError(f"the token is for tenant {claims.get('tenant_id')!r}, not {tenant_id!r}")
    return token


def run_import(path: Path, *, url: str, token: str, mapping: Path | None, poll_s: float = 0.5,
               out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Exit status: 0 when the job finished (rejected rows are listed, not fatal), 1 when it failed."""
    if not token:
        print("a token is needed: --token or DEALPULSE_TOKEN (see `dealpulse token --role admin`)", file=err)
        return 2
    headers = {"Authorization": f"Bearer {token}", "Content-Type": _media_type(path)}
    params = {"filename": path.name}
    if mapping is not None:
        params["mapping"] = mapping.read_text(encoding="utf-8")
    try:
        with httpx.Client(base_url=url.rstrip("/"), headers={"Authorization": headers["Authorization"]},
                          timeout=httpx.Timeout(60.0, connect=10.0)) as client:
            response = client.post("/v1/imports", params=params, headers=headers, content=_chunks(path, err))
            if response.status_code != 202:
                raise ImportFailed(_problem(response))
            job_id = response.json()["id"]
            print(f"\nimport {job_id} started", file=err)
            job = _follow(client, job_id, poll_s, err)
    except (httpx.HTTPError, ImportFailed) as exc:
        print(f"import failed: {exc}", file=err)
        return 1
    _summary(job, out)
    return 0 if job["status"] == "done" else 1


def _media_type(path: Path) -> str:
    return XLSX_MEDIA_TYPE if path.suffix.lower() == ".xlsx" else "text/csv"


def _chunks(path: Path, err: TextIO) -> Iterator[bytes]:
    """The file in chunks (streamed, never read whole), drawing the upload's progress as it goes."""
    size = max(path.stat().st_size, 1)
    sent = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            sent += len(chunk)
            _bar(err, "upload", sent, size, "")
            yield chunk


def _follow(client: httpx.Client, job_id: str, poll_s: float, err: TextIO) -> dict[str, Any]:
    while True:
        response = client.get(f"/v1/imports/{job_id}")
        if response.status_code != 200:
            raise ImportFailed(_problem(response))
        job: dict[str, Any] = response.json()
        total = job.get("total_rows") or 0
        detail = f"{job['accepted']} new, {job['duplicates']} dup, {job['rejected']} rejected"
        _bar(err, "import", job["processed"], total, detail)
        if job["status"] in ("done", "failed"):
            print(file=err)
            return job
        time.sleep(poll_s)


def _bar(err: TextIO, label: str, done: int, total: int, detail: str) -> None:
    if total > 0:
        share = min(done / total, 1.0)
        filled = int(share * _BAR_WIDTH)
        bar = f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {share:6.1%} {done}/{total}"
    else:
        bar = f"[{'?' * _BAR_WIDTH}] {done}"
    # A carriage return redraws one line in a terminal; in a log it is a harmless sequence of updates.
    err.write(f"\r{label:<7}{bar} {detail}")
    err.flush()


def _summary(job: dict[str, Any], out: TextIO) -> None:
    print(f"status: {job['status']}", file=out)
    print(f"rows: {job['processed']} processed: {job['accepted']} accepted, {job['duplicates']} duplicates, "
          f"{job['stale']} stale, {job['rejected']} rejected", file=out)
    if job.get("failure"):
        print(f"failure: {job['failure']}", file=out)
    errors = job.get("errors") or []
    for error in errors[:_SHOWN_ERRORS]:
        print(f"  row {error['row']}: {error['field']}: {error['reason']}", file=out)
    if len(errors) > _SHOWN_ERRORS or job.get("errors_truncated"):
        print(f"  … more errors: GET /v1/imports/{job['id']}", file=out)


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    details = "; ".join(f"{e.get('field')}: {e.get('reason')}" for e in body.get("errors") or [])
    return f"HTTP {response.status_code} {body.get('title', '')}: {body.get('detail', '')}" + \
        (f" ({details})" if details else "")
