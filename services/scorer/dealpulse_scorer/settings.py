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
    model_poll_interval_s: float = Field(2.0, gt=0, description="how often the registry's active pointers are read")
    transient_retry_s: float = Field(20.0, gt=0, description="How long to retry a batch while the database is away")
    rescore_chunk: int = Field(100, ge=1, le=5000, description="open deals re-scored between two stream batches")
    drift_window_rows: int = Field(5000, ge=10, description="live feature vectors per drift window")
    drift_min_rows: int = Field(30, ge=1, description="rows a window needs before its PSI is reported")
    drift_export_interval_s: float = Field(5.0, gt=0)
    performance_window_days: int = Field(30, ge=1, description="recent scores in the prediction distribution")
