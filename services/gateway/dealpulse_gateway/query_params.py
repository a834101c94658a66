"""Query parameters the REST reads share: lists of choices (repeated or comma-separated) and the 422 problem a bad
one gets. Raised as ``RequestValidationError``, so the one problem handler (``dealpulse_common.service``) answers
as it does for FastAPI's own validation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError

from dealpulse_common.events import RiskCategory

HIGH_RISK: tuple[str, ...] = (RiskCategory.HIGH.value, RiskCategory.CRITICAL.value)
RISK_CATEGORIES: tuple[str, ...] = tuple(category.value for category in RiskCategory)

# The problems every REST read can answer (OpenAPI ``responses``).
READ_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or expired bearer token (problem details)"},
    422: {"description": "Invalid parameters (problem details)"},
    503: {"description": "Database unavailable; retry after Retry-After seconds (problem details)"},
}


def invalid_query(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", field), "type": "value_error", "msg": message}])


def listed(values: list[str] | None) -> list[str] | None:
    """The values of a repeated or comma-separated parameter, stripped, each once, in order; None if not given."""
    if not values:
        return None
    return list(dict.fromkeys(part.strip() for value in values for part in value.split(",") if part.strip()))


def storable(text: str) -> bool:
    """Whether PostgreSQL could store ``text`` (no NUL, valid UTF-8); anything else would fail the query."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def listed_texts(values: list[str] | None, field: str) -> list[str] | None:
    """``listed`` for values compared with stored text: one PostgreSQL cannot hold is a 422, not a failed query."""
    texts = listed(values)
    if texts is not None and not all(storable(text) for text in texts):
        raise invalid_query(field, f"{field} must be text without NUL characters")
    return texts


def parse_choices(values: list[str] | None, choices: Sequence[str], field: str,
                  default: Sequence[str] | None = None) -> list[str] | None:
    """The choices asked for (case and spaces do not matter), in the order of ``choices``; ``default`` if none."""
    if not values:
        return None if default is None else list(default)
    requested = {part.lower() for part in listed(values) or []}
    unknown = sorted(requested - set(choices))
    if unknown or not requested:
        raise invalid_query(field, f"unknown {field.replace('_', ' ')} {', '.join(unknown) or '(empty)'}; use "
                                   f"{', '.join(choices)}")
    return [choice for choice in choices if choice in requested]


def parse_categories(values: list[str] | None, default: Sequence[str] | None = HIGH_RISK) -> list[str] | None:
    """Risk categories in severity order; high and critical unless asked otherwise (None: every category)."""
    return parse_choices(values, RISK_CATEGORIES, "risk_category", default)
