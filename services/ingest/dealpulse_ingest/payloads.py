"""The generic webhook's payload: a canonical deal change, full or partial."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from dealpulse_common.deal import (
    IN_CALENDAR,
    DealAmount,
    DealDate,
    DealText,
    JsonObject,
    QualificationCategory,
    QualificationEntry,
)

DealId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")]
ShortText = Annotated[DealText, StringConstraints(max_length=500)]
# Every instant a CRM sends is timezone-aware and within the calendar the services compute with.
CrmTime = Annotated[AwareDatetime, IN_CALENDAR]
_ENVELOPE_FIELDS = {"deal_id", "modified_at", "event_id", "deleted", "restored"}
HistoryCount = Annotated[int, Field(ge=0, le=1_000_000)]


class CrmHistory(BaseModel):
    """History the CRM already knows, as of ``modified_at``: it replaces what DealPulse counted, and DealPulse's own
    counting continues from it (``dealpulse_common.history``). Omit what the CRM does not know: unknown is not 0."""

    model_config = ConfigDict(extra="forbid")

    stage_entered_at: CrmTime | None = Field(None, description="When the deal entered its current stage")
    close_date_push_count: HistoryCount | None = Field(None, description="How often its close date moved later")
    amount_change_count: HistoryCount | None = Field(None, description="How often its amount changed")
    activity_count_30d: HistoryCount | None = Field(None, description="Activities logged in the 30 days up to "
                                                                      "modified_at")


class GenericDealChange(BaseModel):
    """Any subset of the canonical deal's fields, with the CRM's modification time for ordering."""

    model_config = ConfigDict(extra="forbid")

    deal_id: DealId
    modified_at: CrmTime = Field(description="When the CRM changed the deal; older changes are ignored")
    event_id: Annotated[DealText, StringConstraints(min_length=1, max_length=200)] | None = None
    deleted: bool = Field(False, description="The CRM deleted (or merged away) the deal: it leaves the pipeline "
                                             "and is kept for audit. Needs only deal_id and modified_at; other "
                                             "fields are ignored (a CRM's delete payload often repeats the deal)")
    restored: bool = Field(False, description="The CRM restored the deleted deal: it re-enters the pipeline with "
                                              "the snapshot kept at its deletion. Needs only deal_id and "
                                              "modified_at, newer than the deletion; other fields are ignored")

    name: ShortText | None = None
    account_name: ShortText | None = None
    amount: DealAmount | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    stage: ShortText | None = None
    forecast_category: ShortText | None = None
    industry: ShortText | None = None
    region: ShortText | None = None
    product_type: ShortText | None = None
    lead_source: ShortText | None = None
    owner_id: ShortText | None = None
    owner_name: ShortText | None = None
    manager_id: ShortText | None = None
    created_at: CrmTime | None = None
    expected_close_date: DealDate | None = None
    closed_at: CrmTime | None = None
    is_closed: bool | None = None
    is_won: bool | None = None
    last_activity_at: CrmTime | None = None
    qualification: dict[QualificationCategory, QualificationEntry] | None = None
    custom: JsonObject | None = None
    history: CrmHistory | None = None

    @model_validator(mode="after")
    def _deleted_or_restored(self) -> GenericDealChange:
        if self.deleted and self.restored:
            raise ValueError("a change either deletes or restores the deal, not both")
        return self

    def named_fields(self) -> dict[str, Any]:
        """The deal fields this change names, JSON-ready and as sent (raw CRM stage and forecast names); empty
        for a deletion or a restore, which carry only the envelope."""
        if self.deleted or self.restored:
            return {}
        named: dict[str, Any] = self.model_dump(mode="json", include=self.model_fields_set - _ENVELOPE_FIELDS)
        if self.history is not None:
            named["history"] = self.history.model_dump(mode="json", exclude_none=True)
        if not named.get("history", True):
            del named["history"]
        return named
