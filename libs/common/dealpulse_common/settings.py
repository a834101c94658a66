"""Settings base: infrastructure addresses shared by every service, one env prefix per service for the rest."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dealpulse-development-secret-change-me"


class ServiceSettings(BaseSettings):
    """Subclasses set ``model_config = SettingsConfigDict(env_prefix="SCORER_")`` and add their own fields.

    Infrastructure fields carry an explicit alias so one ``KAFKA_BOOTSTRAP``/``DATABASE_URL``/``REDIS_URL``
    serves every service.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = "dealpulse"
    environment: str = Field("development", validation_alias="DEALPULSE_ENV")
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")

    kafka_bootstrap: str = Field("127.0.0.1:19092", validation_alias="KAFKA_BOOTSTRAP")
    kafka_partitions: int = Field(3, validation_alias="KAFKA_PARTITIONS", ge=1)
    kafka_replication_factor: int = Field(1, validation_alias="KAFKA_REPLICATION_FACTOR", ge=1)
    kafka_idempotent_producer: bool = Field(False, validation_alias="KAFKA_IDEMPOTENT_PRODUCER")
    kafka_fetch_max_wait_ms: int = Field(5, validation_alias="KAFKA_FETCH_MAX_WAIT_MS", ge=2)
    kafka_session_timeout_ms: int = Field(6000, validation_alias="KAFKA_SESSION_TIMEOUT_MS")
    kafka_heartbeat_interval_ms: int = Field(500, validation_alias="KAFKA_HEARTBEAT_INTERVAL_MS")
    kafka_publish_timeout_s: float = Field(2.0, validation_alias="KAFKA_PUBLISH_TIMEOUT_S", gt=0)

    database_url: str = Field(
        "postgresql://dealpulse_app:dealpulse_app@127.0.0.1:15432/dealpulse", validation_alias="DATABASE_URL"
    )
    database_pool_size: int = Field(8, validation_alias="DATABASE_POOL_SIZE", ge=1)
    redis_url: str = Field("redis://127.0.0.1:16379/0", validation_alias="REDIS_URL")

    jwt_secret: str = Field(DEV_JWT_SECRET, validation_alias="DEALPULSE_JWT_SECRET")

    @model_validator(mode="after")
    def _refuse_development_secret_in_production(self) -> ServiceSettings:
        if self.environment != "development" and self.jwt_secret == DEV_JWT_SECRET:
            raise ValueError("DEALPULSE_JWT_SECRET must be set outside development")
        return self
