"""The one place that decides a deal's canonical stage, forecast category and closed/won state."""

from __future__ import annotations

import re

from dealpulse_common.deal import ForecastCategory, Stage

_STAGE_SYNONYMS: dict[Stage, tuple[str, ...]] = {
    Stage.PROSPECTING: ("prospecting", "prospect", "lead", "new", "appointment scheduled", "appointmentscheduled"),
    Stage.QUALIFICATION: ("qualification", "qualified", "qualify", "qualifiedtobuy", "qualified to buy"),
    Stage.DISCOVERY: ("discovery", "needs analysis", "value proposition", "id decision makers", "demo",
                      "presentationscheduled", "presentation scheduled", "perception analysis"),
    Stage.PROPOSAL: ("proposal", "proposal/price quote", "proposal price quote", "quote", "decisionmakerboughtin",
                     "decision maker bought in"),
    Stage.NEGOTIATION: ("negotiation", "negotiation/review", "negotiation review", "contract sent", "contractsent"),
    Stage.COMMIT: ("commit", "committed", "commit - verbal", "commit verbal", "verbal", "verbal commit"),
    Stage.CLOSED_WON: ("closed won", "closedwon", "won", "closed - won", "closed/won"),
    Stage.CLOSED_LOST: ("closed lost", "closedlost", "lost", "closed - lost", "closed/lost"),
}
_STAGE_LOOKUP = {alias: stage for stage, aliases in _STAGE_SYNONYMS.items() for alias in aliases}

_FORECAST_SYNONYMS: dict[ForecastCategory, tuple[str, ...]] = {
    ForecastCategory.PIPELINE: ("pipeline",),
    ForecastCategory.BEST_CASE: ("best case", "best_case", "bestcase", "upside"),
    ForecastCategory.COMMIT: ("commit", "committed", "forecast"),
    ForecastCategory.OMITTED: ("omitted", "omit"),
    ForecastCategory.CLOSED: ("closed",),
}
_FORECAST_LOOKUP = {alias: cat for cat, aliases in _FORECAST_SYNONYMS.items() for alias in aliases}


def _key(raw: str) -> str:
    return re.sub(r"\s+", " ", raw.strip().lower().replace("_", " "))


def normalize_stage(raw: str) -> Stage | None:
    """The canonical stage for a CRM's stage name, or None when it is unknown (kept raw and flagged)."""
    key = _key(raw)
    return _STAGE_LOOKUP.get(key) or _STAGE_LOOKUP.get(key.replace(" ", ""))


def normalize_forecast_category(raw: str) -> ForecastCategory | None:
    key = _key(raw)
    return _FORECAST_LOOKUP.get(key) or _FORECAST_LOOKUP.get(key.replace(" ", ""))


def closed_state(stage: Stage | None) -> tuple[bool, bool | None] | None:
    """(is_closed, is_won) implied by a canonical stage, or None when the stage says nothing about it."""
    if stage is Stage.CLOSED_WON:
        return True, True
    if stage is Stage.CLOSED_LOST:
        return True, False
    if stage is None:
        return None
    return False, None
