"""Bulk import against the running system: progress, per-row errors, re-runs without duplicates, XLSX, the CLI."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from tests.support import RunningSystem, Tenant, deal_change, poll_until, run_cli

CRM_MAPPING = {"Opportunity ID": "deal_id", "Opportunity Name": "name", "Account": "account_name",
               "Stage": "stage", "Amount": "amount", "Last Modified": "modified_at",
               "Close Date": "expected_close_date"}
HEADERS = list(CRM_MAPPING)
BAD_ROWS = {7: ("Amount", "-10", "amount"), 19: ("Last Modified", "not a date", "modified_at"),
            33: ("Close Date", "31/31/2026", "expected_close_date")}


def _crm_rows(n: int, prefix: str = "IMP") -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        rows.append({"Opportunity ID": f"{prefix}-{i}", "Opportunity Name": f"Deal {i}", "Account": f"Acct {i % 7}",
                     "Stage": ["Prospecting", "Proposal", "Negotiation", "Commit - Verbal"][i % 4],
                     "Amount": f"{(i % 5000 + 1) * 1000}", "Last Modified": "2026-11-01T09:00:00Z",
                     "Close Date": "2026-12-31"})
    return rows


def _crm_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADERS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


async def test_csv_import_reports_bad_rows_scores_the_rest_and_reruns_as_duplicates(system: RunningSystem) -> None:
    tenant = await system.new_tenant("imp")
    rows = _crm_rows(50)
    for row_number, (column, value, _) in BAD_ROWS.items():
        rows[row_number - 2][column] = value  # row numbers are the file's: the header is row 1
    body = _crm_csv(rows)

    started = await system.upload_import(tenant, body, mapping=CRM_MAPPING)
    assert started.status_code == 202, started.text
    assert started.json()["total_rows"] == 50
    job = await system.import_finished(tenant, started.json()["id"])
    assert job["status"] == "done", job
    assert (job["processed"], job["accepted"], job["rejected"], job["duplicates"]) == (50, 47, 3, 0)
    assert {(e["row"], e["field"]) for e in job["errors"]} == {(n, f) for n, (_, _, f) in BAD_ROWS.items()}
    assert job["started_at"] and job["finished_at"]

    await poll_until(lambda: system.has_rows("risk_scores", tenant, 47), timeout=60)
    stored = await system.admin_fetch("SELECT snapshot FROM deals WHERE tenant_id = $1 AND deal_id = 'IMP-3'",
                                      tenant.tenant_id)
    snapshot = json.loads(stored[0]["snapshot"])  # the admin connection has no jsonb codec
    assert (snapshot["crm_stage"], snapshot["account_name"], snapshot["amount"]) == ("Commit - Verbal", "Acct 3", 4000)

    # A history load is not news: its deals are scored and judged, and no alert is raised for any of them.
    await poll_until(lambda: system.has_rows("verdicts", tenant, 47), timeout=60)
    judged = await system.admin_fetch(
        "SELECT count(*) FILTER (WHERE r.risk_category = 'critical') AS critical,"
        " count(*) FILTER (WHERE v.commit_admission = 'not_admitted') AS not_admitted"
        " FROM deal_risk r JOIN deal_verdict v USING (tenant_id, deal_id) WHERE r.tenant_id = $1", tenant.tenant_id)
    assert judged[0]["critical"] + judged[0]["not_admitted"] > 0, "the file would have raised alerts live"
    # The same kind of change arriving live does alert; once its alert exists, the import's events were seen too.
    live = deal_change("LIVE-1", "2026-11-02T09:00:00Z", name="Live deal", amount=90_000, stage="Commit - Verbal")
    assert (await system.send_change(tenant, live)).status_code == 202
    await poll_until(lambda: system.has_rows("alerts", tenant, 1), timeout=60)
    await asyncio.sleep(1.0)
    alerts = await system.admin_fetch("SELECT deal_id FROM alerts WHERE tenant_id = $1", tenant.tenant_id)
    assert {a["deal_id"] for a in alerts} == {"LIVE-1"}

    again = await system.upload_import(tenant, body, mapping=CRM_MAPPING)
    rerun = await system.import_finished(tenant, again.json()["id"])
    assert (rerun["status"], rerun["accepted"], rerun["duplicates"], rerun["rejected"]) == ("done", 0, 47, 3)
    await asyncio.sleep(2.0)  # a duplicate publishes nothing, so nothing more can be scored
    assert await system.count_rows("risk_scores", tenant) == 47 + 1  # the file's deals and the live one
    assert await system.count_rows("deals", tenant) == 47 + 1




async def test_xlsx_import(system: RunningSystem) -> None:
    tenant = await system.new_tenant("imp")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["deal_id", "modified_at", "amount", "stage", "expected_close_date"])
    for i in range(10):
        sheet.append([f"X-{i}", "2026-11-02T08:00:00Z", 1000 + i, "Proposal", "2027-01-15"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    started = await system.upload_import(tenant, buffer.getvalue(),
                                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert started.status_code == 202, started.text
    job = await system.import_finished(tenant, started.json()["id"])
    assert (job["status"], job["accepted"], job["rejected"]) == ("done", 10, 0), job
    await poll_until(lambda: system.has_rows("risk_scores", tenant, 10), timeout=60)


async def test_refusals_are_problem_details(system: RunningSystem) -> None:
    tenant = await system.new_tenant("imp")
    body = _crm_csv(_crm_rows(2))
    async with httpx.AsyncClient(base_url=system.url("ingest"), timeout=10) as client:
        missing = await client.post("/v1/imports", content=body, headers={"Content-Type": "text/csv"})
        forged = await client.post("/v1/imports", content=body,
                                   headers={"Content-Type": "text/csv", "Authorization": "Bearer not.a.jwt"})
        rep = await client.post("/v1/imports", content=body,
                                headers={"Content-Type": "text/csv", **system.auth(tenant, "rep")})
        unknown = await client.get("/v1/imports/00000000-0000-0000-0000-000000000000", headers=system.auth(tenant))
    assert missing.status_code == 401 and forged.status_code == 401
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert rep.status_code == 403
    assert unknown.status_code == 404
    pdf = await system.upload_import(tenant, body, content_type="application/pdf", mapping=CRM_MAPPING)
    assert pdf.status_code == 415
    unmapped = await system.upload_import(tenant, body, mapping=None)  # CRM headers without a mapping: no deal_id
    assert unmapped.status_code == 422
    assert {e["field"] for e in unmapped.json()["errors"]} == {"deal_id", "modified_at"}
    assert (await system.upload_import(tenant, body, mapping={"Amount": "price"})).status_code == 422
    assert (await system.upload_import(tenant, b"", mapping=None)).status_code == 400


async def test_another_tenant_cannot_read_a_job(system: RunningSystem) -> None:
    owner, other = await system.new_tenant("imp"), await system.new_tenant("imp")
    started = await system.upload_import(owner, _crm_csv(_crm_rows(3, "ISO")), mapping=CRM_MAPPING)
    async with httpx.AsyncClient(base_url=system.url("ingest"), timeout=10) as client:
        response = await client.get(f"/v1/imports/{started.json()['id']}", headers=system.auth(other))
    assert response.status_code == 404


def test_cli_imports_with_progress_and_summary(system: RunningSystem, tmp_path: Path) -> None:
    tenant = asyncio.run(system.new_tenant("cli"))
    rows = _crm_rows(20, "CLI")
    rows[4]["Amount"] = "lots"
    data = tmp_path / "export.csv"
    data.write_bytes(_crm_csv(rows))
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(CRM_MAPPING))
    token = {"DEALPULSE_TOKEN": system.token(tenant)}
    result = run_cli("import", str(data), "--tenant", tenant.tenant_id, "--mapping", str(mapping),
                     "--url", system.url("ingest"), env=token)
    assert result.returncode == 0, result.stderr
    assert "status: done" in result.stdout
    assert "19 accepted" in result.stdout and "1 rejected" in result.stdout
    assert "row 6: amount:" in result.stdout
    assert "100.0%" in result.stderr  # the progress bar reached the end

    wrong = run_cli("import", str(data), "--tenant", "someone-else", "--url", system.url("ingest"), env=token,
                    timeout=60)
    assert wrong.returncode == 2 and "not 'someone-else'" in wrong.stderr


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "stopped"])
async def test_a_job_interrupted_with_its_process_is_reported_and_a_rerun_completes_it(
        system: RunningSystem, stop: signal.Signals) -> None:
    tenant = await system.new_tenant("imp")
    rows = 3_000
    body = _crm_csv(_crm_rows(rows, "KIL"))
    started = await system.upload_import(tenant, body, mapping=CRM_MAPPING)
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]

    await poll_until(lambda: system.has_rows("deals", tenant, 1), timeout=60, interval=0.02)
    # Killed, it records nothing and its heartbeat stops; stopped, it records the interruption on its way out.
    system.supervisor.stop("ingest", stop)
    system.supervisor.start("ingest")
    system.supervisor.wait_ready(["ingest"], timeout=60)

    # Either way the job is reported failed (a dead one after INGEST_IMPORT_STALE_AFTER_S) with how far it got ...
    async def failed() -> dict[str, Any] | None:
        job = await _job(system, tenant, job_id)
        return job if job["status"] == "failed" else None

    interrupted = await poll_until(failed, timeout=60, interval=0.5)
    assert "interrupted" in interrupted["failure"] and "re-run the same file" in interrupted["failure"]
    stored_before = await system.count_rows("deals", tenant)
    assert 0 < stored_before < rows

    # ... and running the same file again finishes it: what was stored comes back as duplicates, nothing twice.
    again = await system.upload_import(tenant, body, mapping=CRM_MAPPING)
    rerun = await system.import_finished(tenant, again.json()["id"], timeout=120)
    assert rerun["status"] == "done", rerun
    assert rerun["accepted"] + rerun["duplicates"] == rows and rerun["rejected"] == 0
    assert rerun["duplicates"] == stored_before  # a chunk is stored whole or not at all
    assert await system.count_rows("deals", tenant) == rows
    await poll_until(lambda: system.has_rows("deal_risk", tenant, rows), timeout=120)
    # A change published just before the kill but not committed is published again under the same event id;
    # the scorer recognises it, so each row is scored exactly once.
    await asyncio.sleep(2.0)
    assert await system.count_rows("risk_scores", tenant) == rows


async def _job(system: RunningSystem, tenant: Tenant, job_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=system.url("ingest"), timeout=10) as client:
        response = await client.get(f"/v1/imports/{job_id}", headers=system.auth(tenant))
        job: dict[str, Any] = response.json()
        return job


async def test_two_imports_of_the_same_deals_at_once_both_finish(system: RunningSystem) -> None:
    # The same rows in opposite orders, so the two jobs' chunks lock the same deals in opposite orders.
    tenant = await system.new_tenant("imp")
    rows = _crm_rows(1_500, "TWO")
    forward, backward = _crm_csv(rows), _crm_csv(rows[::-1])
    started = await asyncio.gather(system.upload_import(tenant, forward, mapping=CRM_MAPPING),
                                   system.upload_import(tenant, backward, mapping=CRM_MAPPING))
    assert all(s.status_code == 202 for s in started), [s.text for s in started]
    jobs = await asyncio.gather(*(system.import_finished(tenant, s.json()["id"], timeout=120) for s in started))
    assert [j["status"] for j in jobs] == ["done", "done"], [j.get("failure") for j in jobs]
    assert sum(j["accepted"] for j in jobs) == len(rows) and sum(j["duplicates"] for j in jobs) == len(rows)
    assert await system.count_rows("deals", tenant) == len(rows)


async def test_rows_of_one_deal_in_one_chunk_fold_in_file_order_and_an_older_row_is_stale(
        system: RunningSystem) -> None:
    # One chunk is stored as one group (a handful of statements for all its rows): the rules stay the rows' own.
    tenant = await system.new_tenant("imp")
    rows = _crm_rows(4, "ORD")
    same_deal = [("Proposal", "2026-11-01T10:00:00Z", "1000"), ("Negotiation", "2026-11-01T11:00:00Z", "2000"),
                 ("Prospecting", "2026-11-01T09:00:00Z", "3000")]
    for stage, modified, amount in same_deal:
        rows.append({**rows[0], "Opportunity ID": "ORD-same", "Stage": stage, "Last Modified": modified,
                     "Amount": amount})
    started = await system.upload_import(tenant, _crm_csv(rows), mapping=CRM_MAPPING)
    job = await system.import_finished(tenant, started.json()["id"])
    assert (job["status"], job["accepted"], job["stale"], job["duplicates"]) == ("done", 6, 1, 0), job
    [deal] = await system.admin_fetch(
        "SELECT snapshot, source_modified_at, last_event_id FROM deals WHERE tenant_id = $1 AND deal_id = 'ORD-same'",
        tenant.tenant_id)
    snapshot = json.loads(deal["snapshot"])
    assert (snapshot["crm_stage"], snapshot["amount"]) == ("Negotiation", 2000)
    events = await system.admin_fetch(
        "SELECT event_id, outcome, source_modified_at FROM deal_events WHERE tenant_id = $1 AND deal_id = 'ORD-same'"
        " ORDER BY applied_seq", tenant.tenant_id)
    assert [e["outcome"] for e in events] == ["applied", "applied", "stale"]
    assert deal["last_event_id"] == events[1]["event_id"]
    assert deal["source_modified_at"] == events[1]["source_modified_at"]
    await poll_until(lambda: system.has_rows("risk_scores", tenant, 5), timeout=60)
