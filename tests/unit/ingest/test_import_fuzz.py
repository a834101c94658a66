"""Arbitrary bytes as an import file: a clean refusal or clean rows, never a crash."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dealpulse_ingest.imports.mapping import ColumnPlan, MappingError, validate_row
from dealpulse_ingest.imports.reader import FileFormat, UnreadableFile, open_tabular

HEADER = b"deal_id,modified_at,amount,stage,expected_close_date\n"
cells = st.one_of(st.text(max_size=30), st.integers().map(str), st.floats(allow_nan=True).map(str),
                  st.sampled_from(["", "2026-11-20T10:00:00Z", "-5", "1e309", "Closed Won", "next tuesday"]))
csv_rows = st.lists(st.lists(cells, min_size=0, max_size=7), max_size=20).map(
    lambda rows: "\n".join(",".join('"' + c.replace('"', '""') + '"' for c in row) for row in rows).encode())


def _read_everything(content: bytes, file_format: FileFormat) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "import"
        path.write_bytes(content)
        try:
            table = open_tabular(path, file_format)
        except UnreadableFile:
            return
        try:
            plan = ColumnPlan(table.headers, {})
        except MappingError:
            table.close()
            return
        try:
            for row in table.rows:
                document, cell_errors = plan.to_document(row)
                change, problems = validate_row(document)
                assert change is not None or problems, "a rejected row must say which field and why"
                assert all({"field", "reason"} <= set(p) for p in [*problems, *cell_errors])
        except UnreadableFile:
            pass
        finally:
            table.close()


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2_000))
def test_arbitrary_bytes_as_csv(content: bytes) -> None:
    _read_everything(content, FileFormat.CSV)


@settings(max_examples=150, deadline=None)
@given(csv_rows)
def test_arbitrary_cells_under_a_valid_header(body: bytes) -> None:
    _read_everything(HEADER + body, FileFormat.CSV)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2_000))
def test_arbitrary_bytes_as_xlsx(content: bytes) -> None:
    _read_everything(b"PK\x03\x04" + content, FileFormat.XLSX)
