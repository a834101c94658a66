"""The high-risk listing's query parameters: categories by repetition or commas, everything else validated."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError

from dealpulse_gateway.query_params import parse_categories


def test_default_is_high_and_critical() -> None:
    assert parse_categories(None) == ["high", "critical"]
    assert parse_categories([]) == ["high", "critical"]


@pytest.mark.parametrize(("values", "expected"), [
    (["critical"], ["critical"]),
    (["critical", "high"], ["high", "critical"]),
    (["low,medium,high,critical"], ["low", "medium", "high", "critical"]),
    (["High", " critical "], ["high", "critical"]),
])
def test_categories_are_accepted_repeated_or_comma_separated(values: list[str], expected: list[str]) -> None:
    assert parse_categories(values) == expected


@pytest.mark.parametrize("values", [["severe"], ["high,extreme"], [","], [""]])
def test_unknown_categories_are_422(values: list[str]) -> None:
    with pytest.raises(RequestValidationError):
        parse_categories(values)
