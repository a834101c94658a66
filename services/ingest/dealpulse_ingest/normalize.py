"""The one place that decides a deal's canonical stage, forecast category and closed/won state.

A tenant's own mapping (``StageMapping``, edited through the gateway's admin endpoint) is consulted first, then
the built-in names below: English CRM defaults plus the usual German, French, Spanish, Portuguese and Italian
localisations. Nothing else in DealPulse guesses stages.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dealpulse_common.deal import ForecastCategory, Stage
from dealpulse_common.stage_mapping import StageMappingSettings, mapping_key
from dealpulse_ingest.payloads import GenericDealChange

T = TypeVar("T")

_STAGE_SYNONYMS: dict[Stage, tuple[str, ...]] = {
    Stage.PROSPECTING: ("prospecting", "prospect", "lead", "new", "appointment scheduled", "appointmentscheduled",
                        "neu", "interessent", "akquise", "prospection", "nouveau", "prospección", "prospeccion",
                        "nuevo", "prospecção", "novo", "prospezione", "nuovo"),
    Stage.QUALIFICATION: ("qualification", "qualified", "qualify", "qualifiedtobuy", "qualified to buy",
                          "qualifizierung", "qualifiziert", "qualifié", "calificación", "calificado",
                          "cualificación", "cualificado", "qualificação", "qualificado", "qualificazione",
                          "qualificato"),
    Stage.DISCOVERY: ("discovery", "needs analysis", "value proposition", "id decision makers", "demo",
                      "presentationscheduled", "presentation scheduled", "perception analysis", "bedarfsanalyse",
                      "analyse des besoins", "découverte", "análisis de necesidades", "descubrimiento",
                      "análise de necessidades", "descoberta", "analisi dei bisogni"),
    Stage.PROPOSAL: ("proposal", "proposal/price quote", "proposal price quote", "quote", "decisionmakerboughtin",
                     "decision maker bought in", "angebot", "angebot erstellt", "proposition",
                     "proposition commerciale", "devis", "propuesta", "cotización", "proposta", "cotação",
                     "offerta", "preventivo"),
    Stage.NEGOTIATION: ("negotiation", "negotiation/review", "negotiation review", "contract sent", "contractsent",
                        "verhandlung", "vertragsverhandlung", "négociation", "negociación", "negociação",
                        "negoziazione", "trattativa"),
    Stage.COMMIT: ("commit", "committed", "commit - verbal", "commit verbal", "verbal", "verbal commit",
                   "zusage", "mündliche zusage", "engagement", "accord verbal", "compromiso", "compromiso verbal",
                   "compromisso", "compromisso verbal", "impegno"),
    Stage.CLOSED_WON: ("closed won", "closedwon", "won", "closed - won", "closed/won", "gewonnen",
                       "abgeschlossen gewonnen", "gagné", "gagne", "conclu gagné", "ganado", "cerrado ganado",
                       "ganho", "ganha", "fechado ganho", "fechada ganha", "vinto", "chiuso vinto"),
    Stage.CLOSED_LOST: ("closed lost", "closedlost", "lost", "closed - lost", "closed/lost", "verloren",
                        "abgeschlossen verloren", "perdu", "conclu perdu", "perdido", "cerrado perdido", "perdida",
                        "fechado perdido", "fechada perdida", "perso", "chiuso perso"),
}

_FORECAST_SYNONYMS: dict[ForecastCategory, tuple[str, ...]] = {
    ForecastCategory.PIPELINE: ("pipeline", "pipe", "embudo", "funil"),
    ForecastCategory.BEST_CASE: ("best case", "best_case", "bestcase", "upside", "bester fall", "meilleur cas",
                                 "mejor caso", "melhor caso", "caso migliore"),
    ForecastCategory.COMMIT: ("commit", "committed", "forecast", "zusage", "engagé", "engagement", "compromiso",
                              "compromisso", "impegno"),
    ForecastCategory.OMITTED: ("omitted", "omit", "ausgelassen", "omis", "omitido", "omitida", "omesso"),
    ForecastCategory.CLOSED: ("closed", "abgeschlossen", "fermé", "clôturé", "cerrado", "fechado", "chiuso"),
}


def _fold(key: str) -> str:
    """The key without accents and spaces, so "Negociacion" or "Gagne" still match when a CRM drops diacritics."""
    decomposed = unicodedata.normalize("NFKD", key)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace(" ", "")


def _lookup(synonyms: Mapping[T, tuple[str, ...]]) -> dict[str, T]:
    table: dict[str, T] = {}
    for target, aliases in synonyms.items():
        for alias in aliases:
            table.setdefault(mapping_key(alias), target)
            table.setdefault(_fold(mapping_key(alias)), target)
    return table


_STAGE_LOOKUP = _lookup(_STAGE_SYNONYMS)
_FORECAST_LOOKUP = _lookup(_FORECAST_SYNONYMS)


@dataclass(frozen=True)
class StageMapping:
    """A tenant's own names (keyed by ``mapping_key``), consulted before the defaults."""

    stages: dict[str, Stage] = field(default_factory=dict)
    forecast_categories: dict[str, ForecastCategory] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: StageMappingSettings) -> StageMapping:
        return cls(stages={mapping_key(k): v for k, v in settings.stages.items()},
                   forecast_categories={mapping_key(k): v for k, v in settings.forecast_categories.items()})


EMPTY_MAPPING = StageMapping()


def _resolve(raw: str, tenant: Mapping[str, T], defaults: Mapping[str, T]) -> T | None:
    key = mapping_key(raw)
    # The tenant's exact spelling wins over everything, so a tenant can re-map even a default name.
    if key in tenant:
        return tenant[key]
    return defaults.get(key) or defaults.get(_fold(key))


def normalize_stage(raw: str, mapping: StageMapping | None = None) -> Stage | None:
    """The canonical stage for a CRM's stage name, or None when it is unknown (kept raw and flagged)."""
    return _resolve(raw, (mapping or EMPTY_MAPPING).stages, _STAGE_LOOKUP)


def normalize_forecast_category(raw: str, mapping: StageMapping | None = None) -> ForecastCategory | None:
    return _resolve(raw, (mapping or EMPTY_MAPPING).forecast_categories, _FORECAST_LOOKUP)


def closed_state(stage: Stage | None) -> tuple[bool, bool | None] | None:
    """(is_closed, is_won) implied by a canonical stage, or None when the stage says nothing about it."""
    if stage is Stage.CLOSED_WON:
        return True, True
    if stage is Stage.CLOSED_LOST:
        return True, False
    if stage is None:
        return None
    return False, None


def canonical_changes(change: GenericDealChange, mapping: StageMapping | None = None) -> dict[str, Any]:
    """The canonical fields a change sets, JSON-ready: stage and forecast category normalised by the tenant's
    ``mapping`` first and the defaults after, closed/won implied by the stage unless the change says otherwise.
    Empty for a deletion or a restore."""
    changes = change.named_fields()
    if (raw_stage := changes.get("stage")) is not None:
        changes["crm_stage"] = raw_stage
        stage = normalize_stage(raw_stage, mapping)
        if stage is None:
            # Unknown stage: accepted, raw name kept, canonical stage left as it was, and flagged so an admin can
            # map it.
            del changes["stage"]
            changes["stage_unmapped"] = True
        else:
            changes["stage"] = stage.value
            changes["stage_unmapped"] = False
            implied = closed_state(stage)
            if implied is not None:
                changes.setdefault("is_closed", implied[0])
                if implied[1] is not None:
                    changes.setdefault("is_won", implied[1])
    if (raw_category := changes.get("forecast_category")) is not None:
        category = normalize_forecast_category(raw_category, mapping)
        if category is None:
            del changes["forecast_category"]
        else:
            changes["forecast_category"] = category.value
    return changes
