"""A manager's override, pure: it re-states the deal's verdict beside the AI's call, later verdicts carry it on,
and a deal's close ends it."""

from __future__ import annotations

import pytest

from dealpulse_common.events import (
    OVERRIDE_PROVIDER,
    DealScoredData,
    DealVerdictData,
    ForecastBucket,
    RiskCategory,
    deterministic_id,
)
from dealpulse_verdict.handlers import decide, verdict_event, with_override
from dealpulse_verdict.thresholds import DEFAULT_THRESHOLDS
from tests import events
from tests.events import NOW


def _scored(win_probability: float = 0.4, **deal: object) -> DealScoredData:
    return events.scored_data(events.deal(**deal), risk_score=round(100 * (1 - win_probability)),
                              risk_category=RiskCategory.HIGH, win_probability=win_probability)


def _first() -> DealVerdictData:
    return decide(_scored(), DEFAULT_THRESHOLDS, source_event_id="s1", decided_at=NOW)


def test_an_override_restates_the_verdict_beside_the_ai_call() -> None:
    current = _first()
    current.changed = False

    restated = with_override(current, events.override_command(forecast_category=ForecastBucket.COMMIT).data)

    assert restated.override is not None
    assert (restated.override.forecast_category, restated.override.ai_verdict) == (ForecastBucket.COMMIT,
                                                                                  current.ai_verdict)
    assert restated.override.overridden_by == "mgr-1" and restated.override.reason == "Legal signed off"
    assert restated.ai_verdict == current.ai_verdict and restated.reasons == current.reasons, "the AI's call stays"
    assert restated.changed is True and restated.provider == OVERRIDE_PROVIDER
    assert current.override is None, "the stored verdict is not modified in place"


def test_a_removal_leaves_the_ai_call_alone() -> None:
    overridden = with_override(_first(), events.override_command().data)

    cleared = with_override(overridden, events.override_command(action="clear", forecast_category=None,
                                                                reason=None).data)

    assert cleared.override is None and cleared.ai_verdict == overridden.ai_verdict and cleared.changed


def test_later_verdicts_carry_the_override_until_the_deal_closes() -> None:
    overridden = with_override(_first(), events.override_command().data)

    rescored = decide(_scored(0.42), DEFAULT_THRESHOLDS, source_event_id="s2", decided_at=NOW, previous=overridden)
    closed = decide(_scored(0.42, is_closed=True, is_won=True), DEFAULT_THRESHOLDS, source_event_id="s3",
                    decided_at=NOW, previous=rescored)

    assert rescored.override == overridden.override and rescored.changed is False
    assert closed.override is None and closed.ai_verdict is ForecastBucket.CLOSED_WON


def test_a_closed_deals_verdict_cannot_be_overridden() -> None:
    closed = decide(_scored(is_closed=True, is_won=False), DEFAULT_THRESHOLDS, source_event_id="s1", decided_at=NOW)

    with pytest.raises(ValueError, match="closed"):
        with_override(closed, events.override_command().data)


def test_the_override_verdict_event_id_derives_from_the_command() -> None:
    command = events.override_command().model_copy(update={"id": "cmd-1"})
    restated = with_override(_first(), command.data)

    event, again = verdict_event(command, restated), verdict_event(command, restated)

    assert event.id == again.id == deterministic_id("cmd-1") and event.time == command.data.requested_at
