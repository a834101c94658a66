from __future__ import annotations

from datetime import timedelta

from dealpulse_common.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from dealpulse_alerts.handlers import AlertRules


class AlertsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ALERTS_", extra="ignore", populate_by_name=True)

    service_name: str = "alerts"
    port: int = 8004
    max_batch: int = Field(500, ge=1)
    dashboard_url: str = Field("http://127.0.0.1:8000", description="The gateway dashboard alerts link to")
    throttle_hours: float = Field(24.0, gt=0, description="At most one alert per deal and type in this window")
    risk_jump_points: int = Field(20, ge=1)
    risk_jump_window_days: float = Field(7.0, gt=0)
    deal_card_ttl_days: float = Field(30.0, gt=0, description="How long a deal's latest card is kept in Redis")
    redis_timeout_s: float = Field(0.5, gt=0)
    transient_retry_s: float = Field(20.0, gt=0, description="How long to retry a batch while the database is away")

    @property
    def throttle_window(self) -> timedelta:
        return timedelta(hours=self.throttle_hours)

    @property
    def deal_card_ttl(self) -> timedelta:
        return timedelta(days=self.deal_card_ttl_days)

    def alert_rules(self) -> AlertRules:
        return AlertRules(risk_jump_points=self.risk_jump_points,
                          risk_jump_window=timedelta(days=self.risk_jump_window_days))
