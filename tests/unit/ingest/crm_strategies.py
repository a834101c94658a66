"""What the CRM connector tests share: Hypothesis strategies (arbitrary JSON, and JSON shaped like each CRM's), the
recorded payloads, and the history a parsed change hands to ingest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from dealpulse_common.history import HISTORY_KEY
from dealpulse_ingest.connectors.common import ParsedChange, to_generic
from dealpulse_ingest.normalize import canonical_changes

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


def crm_history(change: ParsedChange) -> dict[str, Any] | None:
    """The ``history`` object of the canonical change ingest stores for ``change`` (None when the CRM sent none)."""
    history: dict[str, Any] | None = canonical_changes(to_generic(change)).get(HISTORY_KEY)
    return history
