"""Who an alert reaches, through which channel, and when. Pure rules, no I/O.

Each alert x channel x recipient is one delivery with an id derived from those three, so planning the same alert
again (a replay) finds the rows it wrote the first time. The tenant's webhook channel takes every alert at least
``channel_min_severity``; the deal's owner and manager each get a Slack DM (when a bot token is set) and an e-mail
(when SMTP is set) as their preferences allow, deferred to the end of their quiet hours. Nobody configured: no
delivery, and the alert still reaches the topic and the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from dealpulse_alerts import emails
from dealpulse_alerts.schedule_rules import deliver_after
from dealpulse_common.alert_settings import SEVERITY_RANK, Channel, ChannelSettings, UserPreferences
from dealpulse_common.events import AlertRecipient, DealAlert, deterministic_id

DeliveryKind = Literal["alert", "digest", "summary", "test"]
DeliveryChannel = Literal["slack_webhook", "slack_dm", "email"]
WEBHOOK_RECIPIENT = "channel"


@dataclass(frozen=True)
class Delivery:
    """What the worker hands a sender: the row's fields that say what to send where."""

    delivery_id: str
    channel: str
    address: str | None
    message: dict[str, Any]


@dataclass(frozen=True)
class Recipient:
    """A user of the tenant as the planner needs them: how to reach them and what they asked for."""

    user_id: str
    email: str | None
    name: str | None
    zone: ZoneInfo
    preferences: UserPreferences
    role: Literal["owner", "manager"] = "owner"


@dataclass(frozen=True)
class PlannedDelivery:
    delivery_id: str
    kind: DeliveryKind
    channel: DeliveryChannel
    recipient: str
    address: str | None
    message: dict[str, Any]
    deliver_after: datetime
    alert_id: str | None = None
    deal_id: str | None = None


def delivery_id_for(tenant_id: str, subject: str, channel: str, recipient: str) -> str:
    return deterministic_id("delivery", tenant_id, subject, channel, recipient)


def slack_message(text: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"text": text, "blocks": blocks}


def plan_alert(alert: DealAlert, channels: ChannelSettings, recipients: list[Recipient],
               now: datetime) -> tuple[list[PlannedDelivery], list[AlertRecipient]]:
    """The deliveries of one alert, and the recipients (with when each may be reached) the event names."""
    data = alert.data
    planned: list[PlannedDelivery] = []
    slack = channels.slack
    if slack is not None and slack.webhook_url is not None \
            and SEVERITY_RANK[data.severity] >= SEVERITY_RANK[slack.channel_min_severity]:
        planned.append(_alert_delivery(alert, "slack_webhook", WEBHOOK_RECIPIENT, None, now))
    named: list[AlertRecipient] = []
    for person in recipients:
        when = deliver_after(now, person.preferences.quiet_hours, person.zone)
        mine = [_alert_delivery(alert, channel, person.user_id, person.email, when)
                for channel in _personal_channels(channels, person, data.severity)]
        planned.extend(mine)
        named.append(AlertRecipient(user_id=person.user_id, role=person.role, deliver_after=when,
                                    channels=[d.channel for d in mine]))
    return planned, named


def plan_test(tenant_id: str, test_id: str, channels: ChannelSettings, person: Recipient | None,
              now: datetime) -> list[PlannedDelivery]:
    """A test message on every configured channel (DM and e-mail to the admin who asked), sent at once."""
    text = "DealPulse test alert: this channel is set up."
    message = slack_message(text, [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}}])
    targets: list[tuple[DeliveryChannel, str, str | None]] = []
    if channels.slack is not None and channels.slack.webhook_url is not None:
        targets.append(("slack_webhook", WEBHOOK_RECIPIENT, None))
    if person is not None and person.email:
        if channels.slack is not None and channels.slack.bot_token is not None:
            targets.append(("slack_dm", person.user_id, person.email))
        if channels.email is not None:
            targets.append(("email", person.user_id, person.email))
    return [PlannedDelivery(delivery_id_for(tenant_id, f"test:{test_id}", channel, recipient), "test", channel,
                            recipient, address, emails.test_email() if channel == "email" else message, now)
            for channel, recipient, address in targets]


def _personal_channels(channels: ChannelSettings, person: Recipient, severity: str) -> list[DeliveryChannel]:
    if not person.email:
        return []  # Slack users are found by e-mail too
    found: list[DeliveryChannel] = []
    if channels.slack is not None and channels.slack.bot_token is not None \
            and person.preferences.wants(Channel.SLACK, severity):
        found.append("slack_dm")
    if channels.email is not None and person.preferences.wants(Channel.EMAIL, severity):
        found.append("email")
    return found


def _alert_delivery(alert: DealAlert, channel: DeliveryChannel, recipient: str, address: str | None,
                    when: datetime) -> PlannedDelivery:
    data = alert.data
    message = emails.alert_email(data) if channel == "email" else slack_message(data.title, data.slack_blocks)
    return PlannedDelivery(delivery_id_for(alert.tenantid, data.alert_id, channel, recipient), "alert", channel,
                           recipient, address, message, when, alert_id=data.alert_id, deal_id=alert.dealid)
