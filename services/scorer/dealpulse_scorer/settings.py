from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from dealpulse_common.settings import ServiceSettings


class ScorerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCORER_", extra="ignore", populate_by_name=True)

    service_name: str = "scorer"
    port: int = 8002
    model_registry: Path = Field(Path("/var/tmp/dealpulse/models"), validation_alias="DEALPULSE_MODEL_REGISTRY")
    max_batch: int = 500
