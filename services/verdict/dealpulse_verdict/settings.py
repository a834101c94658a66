from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from dealpulse_common.settings import ServiceSettings


class VerdictSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="VERDICT_", extra="ignore", populate_by_name=True)

    service_name: str = "verdict"
    port: int = 8003
    max_batch: int = Field(500, ge=1)
    settings_cache_ttl_s: float = Field(5.0, ge=0, description="How long a tenant's thresholds are reused")
    transient_retry_s: float = Field(20.0, gt=0, description="How long to retry a batch while the database is away")
