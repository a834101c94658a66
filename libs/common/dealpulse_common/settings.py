"""Settings base: infrastructure addresses shared by every service, one env prefix per service for the rest."""

from __future__ import annotations

from typing import Annotated, Literal

from limits import parse as parse_rate_limit
from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dealpulse_common.secrets_at_rest import parse_keys

DEV_JWT_SECRET = "dealpulse-development-secret-change-me"
DEV_SERVICE_SECRET = "dealpulse-development-service-secret-change-me"
# Seals webhook and connector secrets in the embedded stack and `make run` (development only, like the two above).
DEV_SECRETS_KEY = "ZGVhbHB1bHNlLWRldmVsb3BtZW50LWtleS1jaGFuZ2U="
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"})


def rate_limit(value: str) -> str:
    """A quota in the ``limits`` notation ("100/minute", "5 per 10 seconds"), refused at start when malformed."""
    parse_rate_limit(value)
    return value


RateLimit = Annotated[str, AfterValidator(rate_limit)]


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
    # The embedded broker answers a waiting fetch only when this expires, and each fetch costs it more the more
    # batches a partition holds. With 25 ms and a 5 ms producer linger (fewer, fuller batches) the 200/s run went
    # from p50/p99 285/621 to 159/412 ms and from 5.68 to 5.03 service CPU-ms per change (docs/BENCHMARKS.md);
    # 5 ms fetches shave ~10 ms per hop off an idle system only.
    kafka_fetch_max_wait_ms: int = Field(25, validation_alias="KAFKA_FETCH_MAX_WAIT_MS", ge=2)
    kafka_linger_ms: int = Field(5, validation_alias="KAFKA_LINGER_MS", ge=0)
    kafka_session_timeout_ms: int = Field(6000, validation_alias="KAFKA_SESSION_TIMEOUT_MS")
    kafka_heartbeat_interval_ms: int = Field(500, validation_alias="KAFKA_HEARTBEAT_INTERVAL_MS")
    kafka_publish_timeout_s: float = Field(2.0, validation_alias="KAFKA_PUBLISH_TIMEOUT_S", gt=0)

    database_url: str = Field(
        "postgresql://dealpulse_app:dealpulse_app@127.0.0.1:15432/dealpulse", validation_alias="DATABASE_URL"
    )
    database_pool_size: int = Field(8, validation_alias="DATABASE_POOL_SIZE", ge=1)
    redis_url: str = Field("redis://127.0.0.1:16379/0", validation_alias="REDIS_URL")

    # Callers' tokens (dealpulse_common.auth): "jwks" verifies an identity provider's RS256/ES256 tokens,
    # "hs256" tokens signed with jwt_secret (`dealpulse token`), for development only.
    auth_mode: Literal["hs256", "jwks"] = Field("hs256", validation_alias="DEALPULSE_AUTH_MODE")
    jwt_secret: str = Field(DEV_JWT_SECRET, validation_alias="DEALPULSE_JWT_SECRET")
    jwks_url: str | None = Field(None, validation_alias="DEALPULSE_JWKS_URL")
    jwt_issuer: str | None = Field(None, validation_alias="DEALPULSE_JWT_ISSUER")
    jwt_audience: str | None = Field(None, validation_alias="DEALPULSE_JWT_AUDIENCE")
    jwt_algorithms: Annotated[tuple[str, ...], NoDecode] = Field(("RS256", "ES256"),
                                                                 validation_alias="DEALPULSE_JWT_ALGORITHMS")
    jwt_leeway_s: float = Field(30.0, ge=0, le=300, validation_alias="DEALPULSE_JWT_LEEWAY_S")
    jwks_cache_s: float = Field(300.0, gt=0, validation_alias="DEALPULSE_JWKS_CACHE_S")
    # An unknown kid refetches the key set at once, but at most once per this many seconds.
    jwks_refetch_cooldown_s: float = Field(30.0, ge=0, validation_alias="DEALPULSE_JWKS_REFETCH_COOLDOWN_S")
    jwks_timeout_s: float = Field(5.0, gt=0, validation_alias="DEALPULSE_JWKS_TIMEOUT_S")
    # Signs the credential one service presents to another (the gateway to the scorer); a Kubernetes Secret.
    service_secret: str = Field(DEV_SERVICE_SECRET, validation_alias="DEALPULSE_SERVICE_SECRET", min_length=32)
    # Fernet keys sealing the secrets stored in PostgreSQL (dealpulse_common.secrets_at_rest), comma-separated: the
    # first encrypts, all decrypt. A Kubernetes Secret in production.
    secrets_keys: str = Field(DEV_SECRETS_KEY, validation_alias="DEALPULSE_SECRETS_KEYS")
    # How soon a disabled tenant's tokens stop working on a replica that did not disable it.
    tenant_status_cache_ttl_s: float = Field(5.0, gt=0, validation_alias="DEALPULSE_TENANT_STATUS_CACHE_TTL_S")

    # Quotas of the token-taking routes ("100/minute", "5 per 10 seconds"), under the service's own env prefix
    # (GATEWAY_RATE_LIMIT_PER_USER, INGEST_RATE_LIMIT_PER_TENANT, ...): dealpulse_common.rate_limits.
    rate_limit_per_user: RateLimit = "100/minute"
    rate_limit_per_tenant: RateLimit = "1000/minute"

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return tuple(a.strip() for a in value.split(",") if a.strip()) if isinstance(value, str) else value

    @field_validator("jwt_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # A shared-secret algorithm here would let anyone holding the provider's public key sign tokens.
        if not value or not set(value) <= ASYMMETRIC_ALGORITHMS:
            raise ValueError(f"must be some of {', '.join(sorted(ASYMMETRIC_ALGORITHMS))}")
        return value

    @field_validator("secrets_keys")
    @classmethod
    def _fernet_keys(cls, value: str) -> str:
        parse_keys(value)
        return value

    @model_validator(mode="after")
    def _refuse_development_auth_in_production(self) -> ServiceSettings:
        if self.auth_mode == "jwks" and not (self.jwks_url and self.jwt_issuer and self.jwt_audience):
            raise ValueError("DEALPULSE_AUTH_MODE=jwks needs DEALPULSE_JWKS_URL, DEALPULSE_JWT_ISSUER and "
                             "DEALPULSE_JWT_AUDIENCE")
        if self.environment != "development":
            if self.auth_mode != "jwks":
                raise ValueError("outside development DEALPULSE_AUTH_MODE must be jwks (HS256 is for development)")
            if self.service_secret == DEV_SERVICE_SECRET:
                raise ValueError("DEALPULSE_SERVICE_SECRET must be set outside development")
            if DEV_SECRETS_KEY in parse_keys(self.secrets_keys):
                raise ValueError("DEALPULSE_SECRETS_KEYS must be set outside development (the development key "
                                 "is public)")
        return self
