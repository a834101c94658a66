"""Streaming readers: an uploaded file is spooled to disk, then read one row at a time (never loaded whole).

CSV goes through the csv module over the spooled file; XLSX through openpyxl's read-only mode, which parses the
sheet XML incrementally. Both yield ``(row_number, values)`` with spreadsheet numbering (the header is row 1), the
numbers a user sees in Excel and that the error report names.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import AsyncIterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CSV_MEDIA_TYPES = {"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel"}
_ZIP_MAGIC = b"PK\x03\x04"
# Excel writes CSV with a BOM; without stripping it the first header would not match its mapping.
_ENCODING = "utf-8-sig"
csv.field_size_limit(1_048_576)  # a qualification JSON cell can be long; the default 128 KiB is not a real bound


class FileFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


class UnsupportedFormat(ValueError):
    """Neither CSV nor XLSX (415)."""


class TooLarge(ValueError):
    """The upload exceeds the configured limit (413)."""


class UnreadableFile(ValueError):
    """The file claims a format it does not hold, or has no header row (400)."""


Row = tuple[int, Sequence[Any]]


def detect_format(content_type: str | None, filename: str | None, head: bytes) -> FileFormat:
    """The format from the media type, falling back to the name and the first bytes for generic uploads."""
    media = (content_type or "").split(";")[0].strip().lower()
    name = (filename or "").lower()
    if media == XLSX_MEDIA_TYPE or name.endswith(".xlsx"):
        return FileFormat.XLSX
    if media in _CSV_MEDIA_TYPES or name.endswith(".csv"):
        return FileFormat.CSV
    if media in ("", "application/octet-stream"):
        return FileFormat.XLSX if head.startswith(_ZIP_MAGIC) else FileFormat.CSV
    raise UnsupportedFormat(f"unsupported media type {media!r}; send text/csv or {XLSX_MEDIA_TYPE}")


async def spool(chunks: AsyncIterable[bytes], target: IO[bytes], max_bytes: int) -> tuple[int, bytes]:
    """Copy the request stream to ``target`` chunk by chunk, refusing more than ``max_bytes``.

    Returns the size and the first bytes, which tell XLSX (a zip) from CSV when the media type is generic.
    """
    size, head = 0, b""
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"file exceeds {max_bytes} bytes")
        if len(head) < 8:
            head += chunk[: 8 - len(head)]
        target.write(chunk)
    target.flush()
    return size, head


@dataclass
class TabularFile:
    """An opened spooled file: its header row, its rows, and the row count when it is cheap to know."""

    headers: list[str | None]
    rows: Iterator[Row]
    total_rows: int | None
    _close: Any = None

    def close(self) -> None:
        if self._close is not None:
            self._close()


def open_tabular(path: Path, file_format: FileFormat) -> TabularFile:
    return _open_xlsx(path) if file_format is FileFormat.XLSX else _open_csv(path)


def _open_csv(path: Path) -> TabularFile:
    total = count_csv_rows(path)
    handle = path.open(newline="", encoding=_ENCODING, errors="strict")
    reader = csv.reader(handle)
    try:
        headers: list[str | None] = list(next(reader))
    except StopIteration:
        handle.close()
        raise UnreadableFile("the file is empty: a header row is required") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        handle.close()
        raise UnreadableFile(f"not a readable UTF-8 CSV file: {exc}") from None

    def rows() -> Iterator[Row]:
        # csv.reader's line_num counts physical lines (quoted newlines span several), so number rows ourselves.
        for number, values in enumerate(reader, start=2):
            if any(v.strip() for v in values):
                yield number, values

    return TabularFile(headers, rows(), total, handle.close)


def count_csv_rows(path: Path) -> int | None:
    """Data rows, for the progress bar: one fast pass, counting records (not lines) so quoted newlines are right."""
    try:
        with path.open(newline="", encoding=_ENCODING) as handle:
            return max(sum(1 for values in csv.reader(handle) if any(v.strip() for v in values)) - 1, 0)
    except (UnicodeDecodeError, csv.Error):
        return None  # the reader proper reports it


def _open_xlsx(path: Path) -> TabularFile:
    import openpyxl  # imported here: only XLSX uploads pay for loading it
    from openpyxl.utils.exceptions import InvalidFileException

    # A file object, not the path: openpyxl judges a path by its extension and the spooled file has none.
    handle = path.open("rb")
    try:
        workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, InvalidFileException) as exc:
        handle.close()
        raise UnreadableFile(f"not a readable XLSX workbook: {exc}") from None

    def close() -> None:
        workbook.close()
        handle.close()

    sheet = workbook.worksheets[0]  # the export's first sheet; exports with several sheets put the data first
    values = sheet.iter_rows(values_only=True)
    try:
        headers = [None if h is None else str(h) for h in next(values)]
    except StopIteration:
        close()
        raise UnreadableFile("the first sheet is empty: a header row is required") from None
    # The dimension tag is what the writer claims; good enough for a progress bar, never used for correctness.
    total = sheet.max_row - 1 if sheet.max_row else None

    def rows() -> Iterator[Row]:
        for number, row in enumerate(values, start=2):
            if any(v is not None and (not isinstance(v, str) or v.strip()) for v in row):
                yield number, row

    return TabularFile(headers, rows(), total, close)
