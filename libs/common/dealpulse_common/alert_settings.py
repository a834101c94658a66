"""Where a tenant's alerts go and how each user wants them: the contract between their one writer (the gateway's
set-up endpoints) and their one reader (the alerts service's planner and delivery worker).

Channel settings live in ``tenant_settings.settings['alert_channels']``; a user's preferences in
``alert_preferences.preferences``. Secrets (webhook URL, bot token, signing secret, SMTP password) are stored here
and never answered back: ``ChannelSettings.public_view`` is what an API shows.
"""

from __future__ import annotations

import zoneinfo
from datetime import time
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

SETTINGS_KEY = "alert_channels"

Severity = Literal["critical", "high", "medium"]
SEVERITY_RANK: dict[str, int] = {"medium": 1, "high": 2, "critical": 3}
Secret = Annotated[str, StringConstraints(min_length=1, max_length=500)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=320)]


class Channel(StrEnum):
    """What a user can ask for; the webhook is a tenant's channel, not anyone's preference."""

    SLACK = "slack"
    EMAIL = "email"


class SlackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_url: AnyHttpUrl | None = Field(None, description="Incoming webhook of the channel every alert goes to")
    bot_token: Secret | None = Field(None, description="Bot token (xoxb-…) that posts to owners' and managers' DMs")
    signing_secret: Secret | None = Field(None, description="Verifies the Snooze / False alarm button callbacks")
    channel_min_severity: Severity = Field("high", description="Least severe alert posted to the webhook channel")


class EmailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: ShortText
    port: int = Field(587, ge=1, le=65535)
    username: ShortText | None = None
    password: Secret | None = None
    from_address: ShortText = Field(description="The From: of every alert e-mail")
    security: Literal["starttls", "tls", "none"] = "starttls"

    @field_validator("from_address")
    @classmethod
    def _looks_like_an_address(cls, value: str) -> str:
        if "@" not in value.rsplit("<", 1)[-1]:
            raise ValueError("from_address must be an e-mail address")
        return value


class ChannelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slack: SlackSettings | None = None
    email: EmailSettings | None = None
    first_score_critical_to_digest: bool = Field(
        False, description="A deal already critical on its first score goes to the digest, not an immediate alert "
                           "(a newly connected CRM would otherwise page for much of its pipeline)")

    def public_view(self) -> dict[str, Any]:
        """The settings without a single secret: which secrets are set, never what they are."""
        view: dict[str, Any] = {"first_score_critical_to_digest": self.first_score_critical_to_digest,
                                "slack": None, "email": None}
        if self.slack is not None:
            view["slack"] = {"webhook_url_set": self.slack.webhook_url is not None,
                             "bot_token_set": self.slack.bot_token is not None,
                             "signing_secret_set": self.slack.signing_secret is not None,
                             "channel_min_severity": self.slack.channel_min_severity}
        if self.email is not None:
            view["email"] = {**self.email.model_dump(mode="json", exclude={"password"}),
                             "password_set": self.email.password is not None}
        return view

    def keeping_secrets_of(self, stored: ChannelSettings) -> ChannelSettings:
        """An edit that leaves a secret out keeps the stored one (an admin never has to type it again)."""
        slack, email = self.slack, self.email
        if slack is not None and stored.slack is not None:
            slack = slack.model_copy(update={name: getattr(slack, name) or getattr(stored.slack, name)
                                             for name in ("webhook_url", "bot_token", "signing_secret")})
        if email is not None and stored.email is not None and email.password is None:
            email = email.model_copy(update={"password": stored.email.password})
        return self.model_copy(update={"slack": slack, "email": email})


# A wall-clock time in the user's zone. JSON Schema's "time" format is RFC 3339's full-time, which needs an offset
# that these never carry ("08:00:00"): they are documented as RFC 3339's partial-time.
LocalTime = Annotated[time, Field(json_schema_extra={"format": "partial-time"})]


class QuietHours(BaseModel):
    """A daily window in the user's zone; ``start`` after ``end`` runs across midnight (22:00 → 07:00)."""

    model_config = ConfigDict(extra="forbid")

    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.start == self.end:
            raise ValueError("quiet hours must not start and end at the same time")
        return self


class UserPreferences(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: list[Channel] = Field(default_factory=lambda: [Channel.SLACK, Channel.EMAIL], max_length=2)
    min_severity: Severity = "medium"
    timezone: str | None = Field(None, description="IANA zone; default: the user's zone in the users table")
    quiet_hours: QuietHours | None = None
    digest_enabled: bool = True
    digest_time: LocalTime = time(8, 0)
    digest_size: int = Field(10, ge=1, le=50)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone_of(value)
        return value

    def wants(self, channel: Channel, severity: str) -> bool:
        return channel in self.channels and SEVERITY_RANK[severity] >= SEVERITY_RANK[self.min_severity]


def zone_of(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone ``name``; a ValueError (so a 422 at the API) when it is not one."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
