from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from dealpulse_common.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    service_name: str = "gateway"
    port: int = 8000
    # Every replica joins one group so each event is fanned out once; tests running a second gateway against a
    # shared broker give theirs another group.
    consumer_group: str = "gateway"

    # After `rotate-secret`, the replaced webhook secret stays valid this long so the CRM can be switched over
    # (a platform admin may ask for another overlap per rotation, up to the maximum).
    webhook_secret_overlap_s: int = Field(86_400, ge=0)
    webhook_secret_max_overlap_s: int = Field(7 * 86_400, ge=0)

    scorer_url: str = "http://127.0.0.1:8002"
    scorer_timeout_s: float = Field(2.0, gt=0)
    retry_after_s: int = Field(2, ge=1)
    # The alerts service sends the test alerts the admin set-up asks for.
    alerts_url: str = "http://127.0.0.1:8004"
    test_alert_timeout_s: float = Field(30.0, gt=0)

    # Per-tenant Redis Stream length (approximate trim): how far back a reconnecting dashboard can resume.
    stream_maxlen: int = Field(10_000, ge=100)
    # How long an event id is remembered for de-duplication. A re-delivery comes from an uncommitted batch after
    # a crash or rebalance, i.e. within minutes; an hour covers that with margin without letting the keys pile up.
    dedupe_ttl_s: int = Field(3_600, ge=60)
    # Development tokens printed by `dealpulse token`.
    # A frozen or partitioned Redis must surface as an error (retried, reported) rather than hang a consumer.
    redis_timeout_s: float = Field(2.0, gt=0)
    # XREAD BLOCK timeout: bounds how late a WebSocket notices an expired token.
    stream_block_ms: int = Field(5_000, ge=100)
    stream_read_count: int = Field(500, ge=1)
    # A deal without a score for this long is flagged stale.
    stale_after_days: int = Field(14, ge=1)
    # The daily pipeline snapshot (trends): how often each replica looks for tenants without today's, and how long
    # snapshots are kept (the longest trend is 90 days; a year leaves room for longer views).
    snapshot_interval_s: float = Field(300.0, gt=0)
    snapshot_retention_days: int = Field(400, ge=95)
