"""Hypothesis strategies shared by the CRM connector tests: arbitrary JSON, and JSON shaped like each CRM's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import strategies as st

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "crm"

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)


def shaped(keys: list[str], extra: st.SearchStrategy[Any] = scalars) -> st.SearchStrategy[dict[str, Any]]:
    """Objects using a CRM's real keys with arbitrary values: reaches deeper into a parser than random JSON."""
    return st.dictionaries(st.sampled_from(keys), extra | json_values, max_size=len(keys))


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()
