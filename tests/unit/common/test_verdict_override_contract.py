"""The override command and the override a verdict carries: what a manager may set, and what it must say."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dealpulse_common.events import ForecastBucket, VerdictOverride
from tests import events
from tests.events import NOW


def test_a_set_command_puts_its_call_beside_the_ai_verdict() -> None:
    command = events.override_command(forecast_category=ForecastBucket.COMMIT, reason="  Signed order form  ")

    override = command.data.requested(ForecastBucket.PIPELINE)

    assert override == VerdictOverride(forecast_category=ForecastBucket.COMMIT, reason="Signed order form",
                                       overridden_by="mgr-1", overridden_at=NOW, ai_verdict=ForecastBucket.PIPELINE)


def test_a_clear_command_puts_no_override_in_force() -> None:
    command = events.override_command(action="clear", forecast_category=None, reason=None)

    assert command.data.requested(ForecastBucket.COMMIT) is None


@pytest.mark.parametrize("fields", [
    {"reason": None},  # a reason is required
    {"reason": "   "},
    {"reason": "x" * 1001},
    {"reason": "nul\x00inside"},
    {"forecast_category": None},
    {"forecast_category": ForecastBucket.CLOSED_WON},  # an outcome is not a call a manager makes
    {"action": "clear"},  # a removal names no category
    {"action": "replace"},
])
def test_malformed_commands_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        events.override_command(**fields)
