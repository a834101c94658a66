from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from dealpulse_alerts.handlers import AlertRules
from dealpulse_alerts.pacing import RetryPolicy
from dealpulse_common.settings import ServiceSettings
from dealpulse_common.tenant_rules import AlertRuleSettings

_RULES = AlertRuleSettings()  # the defaults of every tenant's alert rules


class AlertsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ALERTS_", extra="ignore", populate_by_name=True)

    service_name: str = "alerts"
    port: int = 8004
    max_batch: int = Field(500, ge=1)
    dashboard_url: str = Field("", description="The public address of the gateway dashboard that alert links, "
                                               "digests and Slack buttons open (https://dealpulse.example.com); "
                                               "required outside development, where it is the local gateway")
    gateway_port: int = Field(8000, validation_alias="GATEWAY_PORT")
    # The defaults of a tenant's alert rules (each tenant may set its own: /v1/admin/settings).
    throttle_hours: float = Field(_RULES.throttle_hours, gt=0,
                                  description="At most one alert per deal and type in this window")
    risk_jump_points: int = Field(_RULES.risk_jump_points, ge=1)
    risk_jump_window_days: float = Field(_RULES.risk_jump_window_days, gt=0)
    rules_cache_ttl_s: float = Field(5.0, ge=0, description="How long a tenant's alert rules are reused")
    deal_card_ttl_days: float = Field(30.0, gt=0, description="How long a deal's latest card is kept in Redis")
    redis_timeout_s: float = Field(0.5, gt=0)
    redis_cooldown_s: float = Field(5.0, ge=0, description="How long Redis is skipped after it failed")
    transient_retry_s: float = Field(20.0, gt=0, description="How long to retry a batch while the database is away")

    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL (a local fake in tests)")
    delivery_timeout_s: float = Field(10.0, gt=0, description="One Slack or SMTP send, at most")
    delivery_max_attempts: int = Field(6, ge=1, description="Tries before a delivery is marked failed")
    delivery_backoff_base_s: float = Field(2.0, gt=0, description="Wait after a first failed try; doubles each time")
    delivery_backoff_max_s: float = Field(300.0, gt=0)
    delivery_poll_interval_s: float = Field(0.5, gt=0, description="How often idle workers look for due deliveries")
    slack_pace_s: float = Field(1.0, ge=0, description="At least this long between two messages to one channel")
    test_alert_wait_s: float = Field(20.0, gt=0, description="How long a test alert waits for its outcome")
    schedule_interval_s: float = Field(30.0, gt=0, description="How often digests and summaries are looked for")

    @model_validator(mode="after")
    def _a_public_dashboard_address(self) -> AlertsSettings:
        if not self.dashboard_url:
            if self.environment != "development":
                # A link to 127.0.0.1 in a Slack message opens nothing for the person who clicks it.
                raise ValueError("ALERTS_DASHBOARD_URL must be set outside development: alerts link to it")
            # A development run moves every port by an offset (GATEWAY_PORT is set for each service): follow it.
            self.dashboard_url = f"http://127.0.0.1:{self.gateway_port}"
        parts = urlsplit(self.dashboard_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"ALERTS_DASHBOARD_URL must be an http(s) address without query or fragment (a deal "
                             f"link appends /#deal=ID), not {self.dashboard_url!r}")
        return self

    @property
    def deal_card_ttl(self) -> timedelta:
        return timedelta(days=self.deal_card_ttl_days)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.delivery_max_attempts, backoff_base_s=self.delivery_backoff_base_s,
                           backoff_max_s=self.delivery_backoff_max_s)

    def alert_rules(self) -> AlertRules:
        return AlertRules(risk_jump_points=self.risk_jump_points,
                          risk_jump_window=timedelta(days=self.risk_jump_window_days),
                          throttle_window=timedelta(hours=self.throttle_hours))
