"""A tenant's stage mapping as stored in ``tenant_settings.settings['stages']``: the contract between its one
writer (the gateway's admin endpoint) and its one reader (ingest's normaliser).

It lives in the common library so both sides agree on the shape and on how raw names are compared.
"""

from __future__ import annotations

import re
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from dealpulse_common.deal import DealText, ForecastCategory, Stage

SETTINGS_KEY = "stages"
MAX_ENTRIES = 500

RawName = Annotated[DealText, StringConstraints(min_length=1, max_length=200)]


def mapping_key(raw: str) -> str:
    """How raw CRM names are compared: case, surrounding space, runs of space and underscores do not matter."""
    return re.sub(r"\s+", " ", raw.strip().lower().replace("_", " "))


class StageMappingSettings(BaseModel):
    """Raw CRM names -> canonical values, applied before the built-in defaults."""

    model_config = ConfigDict(extra="forbid")

    stages: dict[RawName, Stage] = Field(
        default_factory=dict, max_length=MAX_ENTRIES,
        description="Raw CRM stage name -> canonical stage (closed/won follows from closed_won / closed_lost)")
    forecast_categories: dict[RawName, ForecastCategory] = Field(
        default_factory=dict, max_length=MAX_ENTRIES, description="Raw CRM forecast name -> forecast category")

    @model_validator(mode="after")
    def _keys_are_distinct(self) -> Self:
        # Two spellings of one name mapped to different targets would make the outcome depend on dict order.
        for field, mapping in (("stages", self.stages), ("forecast_categories", self.forecast_categories)):
            seen: dict[str, str] = {}
            for raw, target in mapping.items():
                key = mapping_key(raw)
                if not key:
                    raise ValueError(f"{field}: a raw name must not be blank")
                if key in seen and seen[key] != target:
                    raise ValueError(f"{field}: {raw!r} is the same name as another key mapped elsewhere")
                seen[key] = target
        return self
