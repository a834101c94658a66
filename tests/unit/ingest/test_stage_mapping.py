"""The normaliser's localized defaults, a tenant's own mapping before them, and unknown names kept and flagged."""

import pytest
from pydantic import ValidationError

from dealpulse_common.deal import CanonicalDeal, ForecastCategory, Stage
from dealpulse_common.stage_mapping import StageMappingSettings
from dealpulse_ingest.normalize import StageMapping, canonical_changes, normalize_forecast_category, normalize_stage
from dealpulse_ingest.payloads import GenericDealChange
from dealpulse_ingest.stage_mappings import parse

MAPPING = StageMapping.from_settings(StageMappingSettings.model_validate({
    "stages": {"Legal Review": "negotiation", "Signed": "closed_won", "Proposal": "discovery"},
    "forecast_categories": {"Upside Plus": "best_case"},
}))


@pytest.mark.parametrize(
    ("raw", "stage"),
    [
        ("Gewonnen", Stage.CLOSED_WON), ("Verloren", Stage.CLOSED_LOST), ("Angebot", Stage.PROPOSAL),
        ("Verhandlung", Stage.NEGOTIATION), ("Gagné", Stage.CLOSED_WON), ("gagne", Stage.CLOSED_WON),
        ("Perdu", Stage.CLOSED_LOST), ("Propuesta", Stage.PROPOSAL), ("Negociación", Stage.NEGOTIATION),
        ("negociacion", Stage.NEGOTIATION), ("Ganado", Stage.CLOSED_WON), ("Perdido", Stage.CLOSED_LOST),
        ("Proposta", Stage.PROPOSAL), ("Negociação", Stage.NEGOTIATION), ("Fechado Ganho", Stage.CLOSED_WON),
        ("Négociation", Stage.NEGOTIATION), ("Qualifizierung", Stage.QUALIFICATION),
    ],
)
def test_localized_default_names(raw: str, stage: Stage) -> None:
    assert normalize_stage(raw) == stage


def test_localized_forecast_names() -> None:
    assert normalize_forecast_category("Mejor caso") == ForecastCategory.BEST_CASE
    assert normalize_forecast_category("Melhor Caso") == ForecastCategory.BEST_CASE
    assert normalize_forecast_category("Abgeschlossen") == ForecastCategory.CLOSED


def test_tenant_mapping_comes_before_the_defaults() -> None:
    assert normalize_stage("legal   review", MAPPING) == Stage.NEGOTIATION
    assert normalize_stage("Legal review") is None  # without the tenant's mapping it is unknown
    assert normalize_stage("PROPOSAL", MAPPING) == Stage.DISCOVERY  # a tenant may re-map even a default name
    assert normalize_stage("Closed Won", MAPPING) == Stage.CLOSED_WON  # defaults still apply to the rest
    assert normalize_forecast_category("upside_plus", MAPPING) == ForecastCategory.BEST_CASE


def test_a_mapped_closing_stage_sets_closed_and_won() -> None:
    change = GenericDealChange.model_validate({"deal_id": "D1", "modified_at": "2026-11-20T10:00:00Z",
                                               "stage": "Signed", "forecast_category": "Upside Plus"})
    assert canonical_changes(change, MAPPING) == {
        "stage": "closed_won", "crm_stage": "Signed", "stage_unmapped": False, "is_closed": True, "is_won": True,
        "forecast_category": "best_case",
    }


def test_an_unknown_stage_is_accepted_and_flagged() -> None:
    change = GenericDealChange.model_validate({"deal_id": "D1", "modified_at": "2026-11-20T10:00:00Z",
                                               "stage": "Waiting for legal"})
    changes = canonical_changes(change, MAPPING)
    assert changes == {"crm_stage": "Waiting for legal", "stage_unmapped": True}
    deal = CanonicalDeal.model_validate({"tenant_id": "t", "deal_id": "D1", "stage": "proposal", **changes})
    assert deal.stage == Stage.PROPOSAL and deal.stage_unmapped


def test_mapping_targets_must_be_canonical() -> None:
    with pytest.raises(ValidationError):
        StageMappingSettings.model_validate({"stages": {"Legal": "legal"}})
    with pytest.raises(ValidationError):
        StageMappingSettings.model_validate({"forecast_categories": {"Maybe": "perhaps"}})
    with pytest.raises(ValidationError):
        StageMappingSettings.model_validate({"stages": {"Legal Review": "negotiation", "legal_review": "commit"}})
    with pytest.raises(ValidationError):
        StageMappingSettings.model_validate({"stages": {"   ": "commit"}})


def test_a_stored_mapping_that_does_not_validate_falls_back_to_the_defaults() -> None:
    assert parse("t", {"stages": {"X": "nonsense"}}) == StageMapping()
    assert parse("t", None) == StageMapping()
    assert parse("t", {"stages": {"X": "commit"}}).stages == {"x": Stage.COMMIT}


def test_a_deletion_carries_only_the_envelope() -> None:
    deletion = GenericDealChange.model_validate({"deal_id": "D1", "modified_at": "2026-11-20T10:00:00Z",
                                                 "deleted": True})
    assert deletion.deleted and canonical_changes(deletion) == {}
    # A CRM's delete payload often repeats the deal: the fields are ignored, not half-applied.
    repeated = GenericDealChange.model_validate({"deal_id": "D1", "modified_at": "2026-11-20T10:00:00Z",
                                                 "deleted": True, "amount": 10, "stage": "Closed Won"})
    assert canonical_changes(repeated) == {}
