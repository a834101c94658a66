"""Column mapping: which header of a CRM export feeds which canonical field, and one row turned into a change."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from dealpulse_common.history import HISTORY_INPUTS, HISTORY_KEY
from dealpulse_ingest.payloads import GenericDealChange

# Targets a mapping may name: the change model's fields, minus event_id (an import's ids are derived from the row,
# so a re-run of the same file is recognised whatever the export put in such a column), plus ``custom.<key>``.
# The CRM's history values are columns of their own (``close_date_push_count``, ...), gathered into the change's
# history object; a blank cell leaves the value unknown, a 0 says it is 0.
CANONICAL_FIELDS: frozenset[str] = (frozenset(GenericDealChange.model_fields) - {"event_id", HISTORY_KEY}
                                    | frozenset(HISTORY_INPUTS))
REQUIRED_FIELDS = ("deal_id", "modified_at")
CUSTOM_PREFIX = "custom."
_JSON_FIELDS = {"qualification", "custom"}
_DATETIME_FIELDS = {"modified_at", "created_at", "closed_at", "last_activity_at", "stage_entered_at"}
_NUMBER_FIELDS = {"amount"}


class MappingError(ValueError):
    """The mapping file or the file's header row cannot produce valid changes; ``errors`` say why, per field."""

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


def parse_mapping(raw: bytes | str | None) -> dict[str, str]:
    """A mapping document ``{"Opportunity Name": "name", ...}``; empty (identity) when none was sent."""
    if raw is None or (isinstance(raw, bytes | str) and not raw.strip()):
        return {}
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MappingError(f"mapping is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in document.items()):
        raise MappingError("mapping must be a JSON object of header name to canonical field name")
    unknown = [target for target in document.values() if not _is_target(target)]
    if unknown:
        errors = [{"field": target, "reason": "not a canonical deal field"} for target in unknown]
        raise MappingError(f"unknown target field(s): {', '.join(unknown)}", errors)
    return {header.strip(): target for header, target in document.items()}


def _is_target(name: str) -> bool:
    return name in CANONICAL_FIELDS or (name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX))


class ColumnPlan:
    """The header row resolved against the mapping once, so each row is a cheap lookup by position."""

    def __init__(self, headers: Sequence[str | None], mapping: Mapping[str, str]) -> None:
        self.columns: list[tuple[int, str]] = []
        seen: dict[str, str] = {}
        for index, header in enumerate(headers):
            name = (header or "").strip()
            # No mapping sent: the file uses canonical names itself; extra columns are ignored, not errors, since
            # CRM exports carry many we have no use for.
            target = mapping.get(name) if mapping else (name if _is_target(name) else None)
            if target is None:
                continue
            if target in seen:
                raise MappingError(f"columns {seen[target]!r} and {name!r} both map to {target!r}",
                                   [{"field": target, "reason": "mapped from more than one column"}])
            seen[target] = name
            self.columns.append((index, target))
        missing = [f for f in REQUIRED_FIELDS if f not in seen]
        if missing:
            raise MappingError(
                f"no column maps to required field(s) {', '.join(missing)}",
                [{"field": f, "reason": "required; no column maps to it"} for f in missing])

    def to_document(self, values: Sequence[Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """The change document of one row (blank cells left out), and the cells that could not be read."""
        document: dict[str, Any] = {}
        errors: list[dict[str, str]] = []
        for index, target in self.columns:
            raw = values[index] if index < len(values) else None
            try:
                value = _cell(target, raw)
            except ValueError as exc:
                errors.append({"field": target, "reason": str(exc)})
                continue
            if value is None:
                continue
            if target.startswith(CUSTOM_PREFIX):
                document.setdefault("custom", {})[target.removeprefix(CUSTOM_PREFIX)] = value
            elif target in HISTORY_INPUTS:
                document.setdefault(HISTORY_KEY, {})[target] = value
            else:
                document[target] = value
        return document, errors


def _cell(target: str, raw: Any) -> Any:
    """One cell as the change model expects it; spreadsheets give typed cells, CSV gives strings."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, str):
        raw = raw.strip()
    if target in _JSON_FIELDS and isinstance(raw, str):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError("not a JSON object") from exc
    if target in _DATETIME_FIELDS:
        return _aware(raw)
    if target == "expected_close_date" and isinstance(raw, datetime):
        return raw.date().isoformat()
    if target in _NUMBER_FIELDS and isinstance(raw, str):
        return raw.replace(",", "").replace(" ", "")  # "1,250,000" as exports format it
    if target == "deal_id" and isinstance(raw, int | float):
        return str(int(raw)) if float(raw).is_integer() else str(raw)  # numeric ids come back as numbers from XLSX
    return raw


def _aware(raw: Any) -> Any:
    """Exports usually write local-less timestamps; we read a naive one as UTC rather than reject every row."""
    if isinstance(raw, datetime):
        return (raw if raw.tzinfo else raw.replace(tzinfo=UTC)).isoformat()
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day, tzinfo=UTC).isoformat()
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return raw  # let the model produce its own message
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()
    return raw


def validate_row(document: dict[str, Any]) -> tuple[GenericDealChange | None, list[dict[str, str]]]:
    """The validated change, or the reasons it is not one (field by field)."""
    try:
        return GenericDealChange.model_validate(document), []
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in err["loc"]) or "row", "reason": err["msg"]}
                  for err in exc.errors()]
        return None, errors


def row_event_id(tenant_id: str, change: GenericDealChange) -> str:
    """Deterministic per tenant and row content, so importing the same file again yields only duplicates."""
    content = orjson.dumps(change.model_dump(mode="json", exclude_unset=True, exclude={"event_id"}),
                           option=orjson.OPT_SORT_KEYS)
    return "import:sha256:" + hashlib.sha256(tenant_id.encode() + b"\0" + content).hexdigest()
