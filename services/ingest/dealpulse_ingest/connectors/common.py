"""What every connector shares: its errors, the parsed-change shape, field maps, value parsing and the rules for
the history a CRM knows of a deal (the ``history`` object of a change, ``dealpulse_common.history``)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from dealpulse_common import connector_settings
from dealpulse_common.history import ACTIVITY_WINDOW, HISTORY_KEY
from dealpulse_ingest.payloads import GenericDealChange


class ConnectorError(ValueError):
    """A delivery, or one event of it, that can never be accepted as sent; the message says why."""


class AuthError(ConnectorError):
    """The caller could not prove it speaks for the tenant."""


class MalformedError(ConnectorError):
    """The body is not the provider's format at all (bad JSON/XML, wrong shape)."""


# Fields a per-tenant field map may target (the contract the gateway validates maps with); ``custom.<key>``
# targets the free-form custom dict.
MAPPABLE_FIELDS = connector_settings.MAPPABLE_FIELDS


@dataclass
class ParsedChange:
    """One deal change in ``GenericDealChange`` terms, plus what the route needs to store or dead-letter it."""

    event_id: str
    fields: dict[str, Any]
    deleted: bool = False
    restored: bool = False
    raw: bytes = b""
    indices: list[int] = field(default_factory=list)

    @property
    def deal_id(self) -> str:
        return str(self.fields.get("deal_id", ""))


def load_json(body: bytes) -> Any:
    """The decoded body, or a ``MalformedError`` naming what is wrong with it."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedError(f"body is not valid JSON: {exc}") from None


def to_generic(change: ParsedChange) -> GenericDealChange:
    """Validate through the one payload model, so every connector gets the generic webhook's rules."""
    data = dict(change.fields)
    if change.deleted:
        data["deleted"] = True
    if change.restored:
        data["restored"] = True
    try:
        return GenericDealChange.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) + f" ({e['msg']})" for e in exc.errors())
        raise ConnectorError(f"invalid field(s): {fields}") from None


def apply_field_map(source: Mapping[str, Any], field_map: Mapping[str, Any], fields: dict[str, Any]) -> None:
    """Copy the tenant's mapped provider fields into ``fields``; bad map targets are skipped, not fatal."""
    for provider_field, target in field_map.items():
        if provider_field not in source or not isinstance(target, str):
            continue
        value = source[provider_field]
        if target.startswith("custom.") and len(target) > len("custom."):
            fields.setdefault("custom", {})[target.removeprefix("custom.")] = value
        elif target in MAPPABLE_FIELDS:
            fields[target] = value


def config_map(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A mapping from tenant config, or empty when it is missing or mistyped (an admin typo must not 500)."""
    value = config.get(key)
    return dict(value) if isinstance(value, Mapping) else {}


def parse_amount(value: Any) -> float | None:
    """CRMs send 0 or "" for "no amount yet"; treat that as unset rather than rejecting the whole change."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        amount = float(value)
    except (TypeError, ValueError):
        raise ConnectorError(f"amount is not a number: {str(value)[:50]!r}") from None
    return None if amount == 0 else amount


def parse_datetime(value: Any) -> datetime:
    """ISO 8601 (naive means UTC, as Pipedrive v1 sends it) or epoch milliseconds (HubSpot)."""
    if isinstance(value, bool):
        raise ConnectorError("timestamp is a boolean")
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        try:
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ConnectorError(f"timestamp out of range: {str(value)[:50]!r}") from None
    if not isinstance(value, str):
        raise ConnectorError(f"timestamp is not a string: {str(value)[:50]!r}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        raise ConnectorError(f"not an ISO 8601 timestamp: {value[:50]!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_date(value: Any) -> date:
    """A calendar date, from ``YYYY-MM-DD``, an ISO timestamp or epoch milliseconds (HubSpot's closedate)."""
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ConnectorError(f"not a date: {value!r}") from None
    return parse_datetime(value).date()


def parse_count(value: Any, name: str) -> int | None:
    """A count as a CRM sends it (3, 3.0, "3"); None when the CRM sent none: unknown is not 0."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ConnectorError(f"{name} is a boolean, not a count")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConnectorError(f"{name} is not a count: {str(value)[:50]!r}") from None
    if not number.is_integer() or number < 0:
        raise ConnectorError(f"{name} is not a count: {str(value)[:50]!r}")
    return int(number)


def recent_activity_count(lifetime: int | None, created_at: Any, as_of: datetime) -> int | None:
    """The 30-day activity count a CRM's lifetime count stands for, or None when it stands for none.

    HubSpot and Pipedrive count a deal's activities since its creation, not over the last 30 days. The two agree
    only while the deal is younger than the window (every activity it has is recent); for an older deal a lifetime
    count says nothing about the last 30 days, so it is not sent at all rather than passed off as a 30-day count.
    """
    if lifetime is None or not isinstance(created_at, datetime):
        return None
    return lifetime if timedelta(0) <= as_of - created_at <= ACTIVITY_WINDOW else None


def put_history(fields: dict[str, Any], name: str, value: Any) -> None:
    """Hand a history value the CRM sent to the change; a value it did not send stays out (unknown)."""
    if value is not None:
        fields.setdefault(HISTORY_KEY, {})[name] = value


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise ConnectorError(f"not a boolean: {str(value)[:50]!r}")


def digest_id(prefix: str, *parts: Any) -> str:
    """A stable event id from what identifies a delivery, so a retried event is recognised as a duplicate."""
    return f"{prefix}:" + hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()
