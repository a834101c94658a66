"""The import file readers and the column mapping: streaming, typed cells, per-row errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from io import BytesIO
from pathlib import Path

import openpyxl
import pytest

from dealpulse_ingest.imports.mapping import ColumnPlan, MappingError, parse_mapping, row_event_id, validate_row
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

CRM_MAPPING = {"Opportunity ID": "deal_id", "Opportunity Name": "name", "Stage": "stage", "Amount": "amount",
               "Last Modified": "modified_at", "Close Date": "expected_close_date", "Region Code": "custom.region"}


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deals.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _rows(path: Path, file_format: FileFormat, mapping: dict[str, str] | None = None) -> list[tuple[int, dict]]:
    tabular = open_tabular(path, file_format)
    try:
        plan = ColumnPlan(tabular.headers, mapping or {})
        out = []
        for number, values in tabular.rows:
            document, errors = plan.to_document(values)
            assert not errors
            out.append((number, document))
        return out
    finally:
        tabular.close()


def test_csv_with_bom_quoted_newline_and_blank_rows(tmp_path: Path) -> None:
    path = _csv(tmp_path, "\ufeffdeal_id,modified_at,name,extra\n"
                          'D-1,2026-01-02T10:00:00Z,"Acme, two\nlines",x\n'
                          ",,,\n"
                          "D-2,2026-01-03 09:00:00,Beta,y\n")
    tabular = open_tabular(path, FileFormat.CSV)
    assert tabular.total_rows == 2  # records, not physical lines; the blank row is not counted
    tabular.close()
    rows = _rows(path, FileFormat.CSV)
    # Row numbers are the file's (header = 1); the quoted newline does not shift them; unknown columns are ignored.
    assert [n for n, _ in rows] == [2, 4]
    assert rows[0][1] == {"deal_id": "D-1", "modified_at": "2026-01-02T10:00:00+00:00", "name": "Acme, two\nlines"}
    assert rows[1][1]["modified_at"] == "2026-01-03T09:00:00+00:00"  # naive timestamps are read as UTC


def test_mapping_renames_headers_and_fills_custom(tmp_path: Path) -> None:
    path = _csv(tmp_path, "Opportunity ID,Opportunity Name,Stage,Amount,Last Modified,Close Date,Region Code,Notes\n"
                          'O-9,Big deal,Closed Won,"1,250,000",2026-02-01T00:00:00Z,2026-03-31,EMEA-N,ignored\n')
    [(_, document)] = _rows(path, FileFormat.CSV, parse_mapping(str(CRM_MAPPING).replace("'", '"')))
    assert document == {"deal_id": "O-9", "name": "Big deal", "stage": "Closed Won", "amount": "1250000",
                        "modified_at": "2026-02-01T00:00:00+00:00", "expected_close_date": "2026-03-31",
                        "custom": {"region": "EMEA-N"}}
    change, errors = validate_row(document)
    assert errors == [] and change is not None
    assert change.amount == 1_250_000


def test_xlsx_is_read_streaming_with_typed_cells(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["deal_id", "modified_at", "amount", "expected_close_date", "is_closed"])
    sheet.append([1001, datetime(2026, 1, 5, 12, 30), 5000, datetime(2026, 6, 30), False])
    sheet.append(["D-2", "2026-01-06T00:00:00Z", None, None, None])
    path = tmp_path / "spooled-without-extension"  # as the upload is spooled
    workbook.save(path)
    rows = _rows(path, FileFormat.XLSX)
    assert rows[0] == (2, {"deal_id": "1001", "modified_at": "2026-01-05T12:30:00+00:00", "amount": 5000,
                           "expected_close_date": "2026-06-30", "is_closed": False})
    assert rows[1] == (3, {"deal_id": "D-2", "modified_at": "2026-01-06T00:00:00+00:00"})
    assert all(validate_row(doc)[1] == [] for _, doc in rows)


def test_history_columns_fill_the_changes_history_and_a_blank_cell_leaves_it_unknown(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["deal_id", "modified_at", "stage_entered_at", "close_date_push_count", "amount_change_count",
                  "activity_count_30d"])
    sheet.append(["D-1", "2026-01-05T12:30:00Z", datetime(2025, 12, 1, 9), 3, 0, 7.0])
    sheet.append(["D-2", "2026-01-06T00:00:00Z", None, None, None, None])
    path = tmp_path / "history.xlsx"
    workbook.save(path)
    (_, full), (_, blank) = _rows(path, FileFormat.XLSX)
    assert full["history"] == {"stage_entered_at": "2025-12-01T09:00:00+00:00", "close_date_push_count": 3,
                               "amount_change_count": 0, "activity_count_30d": 7.0}
    assert "history" not in blank
    change, errors = validate_row(full)
    assert errors == [] and change is not None
    assert change.named_fields()["history"] == {"stage_entered_at": "2025-12-01T09:00:00Z",
                                                "close_date_push_count": 3, "amount_change_count": 0,
                                                "activity_count_30d": 7}
    blank_change, _ = validate_row(blank)
    assert blank_change is not None and "history" not in blank_change.named_fields()


def test_a_bad_history_cell_names_its_field() -> None:
    plan = ColumnPlan(["deal_id", "modified_at", "close_date_push_count"], parse_mapping(
        '{"deal_id": "deal_id", "modified_at": "modified_at", "close_date_push_count": "close_date_push_count"}'))
    document, _ = plan.to_document(["D-1", "2026-01-05T12:30:00Z", "-1"])
    change, errors = validate_row(document)
    assert change is None and [e["field"] for e in errors] == ["history.close_date_push_count"]
    with pytest.raises(MappingError, match="history"):
        parse_mapping('{"History": "history"}')


def test_invalid_rows_name_the_field() -> None:
    plan = ColumnPlan(["deal_id", "modified_at", "amount", "currency", "qualification"], {})
    document, errors = plan.to_document(["D-1", "yesterday", "-5", "euro", "{not json"])
    assert errors == [{"field": "qualification", "reason": "not a JSON object"}]
    document, errors = plan.to_document(["D-1", "yesterday", "-5", "euro", ""])
    change, errors = validate_row(document)
    assert change is None
    assert {e["field"] for e in errors} == {"modified_at", "amount", "currency"}


def test_missing_required_column_is_refused_up_front() -> None:
    with pytest.raises(MappingError) as refused:
        ColumnPlan(["Opportunity Name", "Stage"], {"Opportunity Name": "name"})
    assert {e["field"] for e in refused.value.errors} == {"deal_id", "modified_at"}


@pytest.mark.parametrize("raw", ["[1]", '{"A": "not_a_field"}', '{"A": 3}', "{oops"])
def test_bad_mapping_documents(raw: str) -> None:
    with pytest.raises(MappingError):
        parse_mapping(raw)


def test_two_columns_on_one_field_is_refused() -> None:
    with pytest.raises(MappingError):
        ColumnPlan(["A", "B", "modified_at"], {"A": "deal_id", "B": "deal_id", "modified_at": "modified_at"})


def test_event_id_is_deterministic_per_tenant_and_content() -> None:
    change, _ = validate_row({"deal_id": "D-1", "modified_at": "2026-01-01T00:00:00Z", "amount": "10"})
    same, _ = validate_row({"amount": 10.0, "modified_at": "2026-01-01T00:00:00+00:00", "deal_id": "D-1"})
    other, _ = validate_row({"deal_id": "D-1", "modified_at": "2026-01-01T00:00:00Z", "amount": "11"})
    assert change and same and other
    assert row_event_id("t1", change) == row_event_id("t1", same)
    assert row_event_id("t1", change) != row_event_id("t2", change)
    assert row_event_id("t1", change) != row_event_id("t1", other)


def test_detect_format() -> None:
    assert detect_format("text/csv; charset=utf-8", None, b"a,b") is FileFormat.CSV
    assert detect_format(XLSX_MEDIA_TYPE, None, b"PK\x03\x04") is FileFormat.XLSX
    assert detect_format("application/octet-stream", None, b"PK\x03\x04") is FileFormat.XLSX
    assert detect_format(None, "export.csv", b"") is FileFormat.CSV
    with pytest.raises(UnsupportedFormat):
        detect_format("application/pdf", "x.pdf", b"%PDF")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile):
        open_tabular(_csv(tmp_path, ""), FileFormat.CSV)
    bogus = tmp_path / "bogus.xlsx"
    bogus.write_bytes(b"not a zip at all")
    with pytest.raises(UnreadableFile):
        open_tabular(bogus, FileFormat.XLSX)


async def _stream(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def test_spool_copies_in_chunks_and_enforces_the_limit() -> None:
    target = BytesIO()
    assert await spool(_stream(b"PK", b"\x03\x04rest"), target, 100) == (8, b"PK\x03\x04rest")
    assert target.getvalue() == b"PK\x03\x04rest"
    with pytest.raises(TooLarge):
        await spool(_stream(b"x" * 60, b"y" * 60), BytesIO(), 100)
