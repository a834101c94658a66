from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from dealpulse_common.settings import RateLimit, ServiceSettings


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore", populate_by_name=True)

    service_name: str = "ingest"
    port: int = 8001
    signature_tolerance_s: int = 300
    max_body_bytes: int = 1_048_576
    retry_after_s: int = 2
    # A tenant's secrets, status and CRM settings are read again after this long: a rotated secret, a disable or
    # an admin's connector edit applies within it (a lookup per busy tenant every few seconds costs nothing).
    secret_cache_ttl_s: float = 5.0
    stage_mapping_cache_ttl_s: float = 5.0
    # Webhooks of one tenant stored in one transaction and one broker batch at most (group_commit.py).
    group_commit_max: int = Field(100, ge=1)
    # A tenant's CRM deliveries (every webhook), well above a person's pace: a bulk sync sends thousands a minute.
    rate_limit_webhooks_per_tenant: RateLimit = "60000/minute"
