import pytest
from pydantic import ValidationError

from dealpulse_common.deal import ForecastCategory, Stage
from dealpulse_ingest.normalize import canonical_changes, closed_state, normalize_forecast_category, normalize_stage
from dealpulse_ingest.payloads import GenericDealChange


@pytest.mark.parametrize(
    ("raw", "stage"),
    [
        ("Commit - Verbal", Stage.COMMIT),
        ("Committed", Stage.COMMIT),
        ("Closed Won", Stage.CLOSED_WON),
        ("closedwon", Stage.CLOSED_WON),
        ("Negotiation/Review", Stage.NEGOTIATION),
        ("  proposal  ", Stage.PROPOSAL),
        ("Closed_Lost", Stage.CLOSED_LOST),
        ("Something custom", None),
    ],
)
def test_stage_names_from_many_crms(raw: str, stage: Stage | None) -> None:
    assert normalize_stage(raw) == stage


def test_forecast_categories() -> None:
    assert normalize_forecast_category("Best Case") == ForecastCategory.BEST_CASE
    assert normalize_forecast_category("Commit") == ForecastCategory.COMMIT
    assert normalize_forecast_category("???") is None


def test_closed_state_follows_the_stage() -> None:
    assert closed_state(Stage.CLOSED_WON) == (True, True)
    assert closed_state(Stage.CLOSED_LOST) == (True, False)
    assert closed_state(Stage.PROPOSAL) == (False, None)
    assert closed_state(None) is None


def test_a_partial_change_sets_only_what_it_names() -> None:
    change = GenericDealChange.model_validate(
        {"deal_id": "D1", "modified_at": "2026-11-20T10:00:00Z", "stage": "Closed Won", "amount": None}
    )
    assert canonical_changes(change) == {
        "stage": "closed_won", "crm_stage": "Closed Won", "stage_unmapped": False, "is_closed": True, "is_won": True,
        "amount": None,
    }


def test_an_unknown_stage_keeps_the_raw_name_and_the_canonical_stage() -> None:
    change = GenericDealChange.model_validate(
        {"deal_id": "D1", "modified_at": "2026-11-20T10:00:00Z", "stage": "Legal review (custom)"}
    )
    assert canonical_changes(change) == {"crm_stage": "Legal review (custom)", "stage_unmapped": True}


def test_a_restore_or_a_deletion_sets_no_fields_and_never_both() -> None:
    for flag in ("deleted", "restored"):
        change = GenericDealChange.model_validate({"deal_id": "D", "modified_at": "2026-11-22T10:00:00Z", flag: True,
                                                   "amount": 5})
        assert canonical_changes(change) == {}
    with pytest.raises(ValidationError, match="either deletes or restores"):
        GenericDealChange.model_validate({"deal_id": "D", "modified_at": "2026-11-22T10:00:00Z", "deleted": True,
                                          "restored": True})
