"""What a deal's values may be: what every store and wire format here can carry, and calendar arithmetic survives."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from dealpulse_common.deal import CanonicalDeal

BASE: dict[str, Any] = {"tenant_id": "t", "deal_id": "D"}


@pytest.mark.parametrize(("fields", "field"), [
    ({"name": "Acme\x00"}, "name"),
    ({"custom": {"big": 10**30}}, "custom"),
    ({"custom": {"nested": [{"k\x00": 1}]}}, "custom"),
    ({"custom": {"x": float("inf")}}, "custom"),
    ({"amount": float("nan")}, "amount"),
    ({"expected_close_date": "9999-12-31"}, "expected_close_date"),
    ({"created_at": "0321-09-15T19:32:52Z"}, "created_at"),
    ({"qualification": {"champion": {"score": 2, "note": "\x00"}}}, "qualification"),
])
def test_values_no_store_could_take_are_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CanonicalDeal.model_validate({**BASE, **fields})
    assert {str(e["loc"][0]) for e in caught.value.errors()} == {field}


def test_the_widest_accepted_values_survive_the_wire() -> None:
    deal = CanonicalDeal.model_validate({
        **BASE, "name": "Ünïcode ✓", "custom": {"max": 2**63 - 1, "min": -(2**63), "list": [1.5, None, True]},
        "expected_close_date": "2199-12-31", "created_at": "1900-01-01T00:00:00Z", "amount": 1e300})
    assert CanonicalDeal.model_validate_json(orjson.dumps(deal.model_dump(mode="json"))) == deal
