"""The edges to Slack and SMTP: one send of one delivery, and what came of it.

slack-sdk posts to a tenant's incoming webhook and, with its bot token, to a user's DM (found by e-mail:
``users.lookupByEmail``, ``conversations.open``, ``chat.postMessage``); aiosmtplib hands an e-mail to the tenant's
SMTP server. Neither client retries on its own (``retry_handlers=[]``): the delivery worker owns retries, so it
can count them, honour Retry-After and keep one message a second per channel. The tenant's secrets are read when
sending, never stored with a delivery, and never logged.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiohttp
import aiosmtplib
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from dealpulse_alerts.delivery_plan import Delivery
from dealpulse_common.alert_settings import ChannelSettings, EmailSettings

log = logging.getLogger(__name__)

# Slack errors that no retry can fix: a wrong token, a user Slack does not know, a revoked app.
_PERMANENT_SLACK_ERRORS = frozenset({
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "users_not_found",
    "channel_not_found", "is_archived", "missing_scope", "no_permission", "invalid_blocks", "msg_too_long",
})
METADATA_EVENT = "dealpulse_delivery"




@dataclass(frozen=True)
class Outcome:
    sent: bool
    error: str | None = None
    retry_after_s: float | None = None  # the remote said when to come back (HTTP 429)
    permanent: bool = False  # retrying cannot help: fail now, with the reason

    @classmethod
    def ok(cls) -> Outcome:
        return cls(True)


def rate_key(delivery: Delivery, channels: ChannelSettings) -> str | None:
    """Deliveries sharing a key go out at most one a second (Slack's limit per webhook and per channel)."""
    slack = channels.slack
    if delivery.channel == "slack_webhook" and slack is not None and slack.webhook_url is not None:
        return "webhook:" + _digest(str(slack.webhook_url))
    if delivery.channel == "slack_dm" and slack is not None and slack.bot_token is not None:
        return "dm:" + _digest(f"{slack.bot_token}|{delivery.address}")
    return None


class Senders:
    def __init__(self, slack_api_url: str, timeout_s: float) -> None:
        self._slack_api_url = slack_api_url
        self._timeout_s = timeout_s
        self._dm_channels: dict[str, str] = {}  # (token, e-mail) digest -> DM channel id

    async def send(self, delivery: Delivery, channels: ChannelSettings) -> Outcome:
        try:
            if delivery.channel == "email":
                return await self._email(delivery, channels.email)
            if delivery.channel == "slack_webhook":
                return await self._webhook(delivery, channels)
            return await self._direct_message(delivery, channels)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return Outcome(False, f"{type(exc).__name__}: {exc}"[:500])

    async def _webhook(self, delivery: Delivery, channels: ChannelSettings) -> Outcome:
        if channels.slack is None or channels.slack.webhook_url is None:
            return Outcome(False, "no Slack webhook is configured any more", permanent=True)
        client = AsyncWebhookClient(str(channels.slack.webhook_url), timeout=int(self._timeout_s), retry_handlers=[])
        response = await client.send(text=delivery.message["text"], blocks=delivery.message["blocks"],
                                     metadata=_metadata(delivery))
        if response.status_code == 200:
            return Outcome.ok()
        return _http_outcome(response.status_code, response.headers, f"webhook answered {response.status_code}: "
                                                                     f"{response.body[:200]}")

    async def _direct_message(self, delivery: Delivery, channels: ChannelSettings) -> Outcome:
        if channels.slack is None or channels.slack.bot_token is None or not delivery.address:
            return Outcome(False, "no Slack bot token is configured any more", permanent=True)
        client = AsyncWebClient(token=channels.slack.bot_token, base_url=self._slack_api_url,
                                timeout=int(self._timeout_s), retry_handlers=[])
        try:
            channel = await self._dm_channel(client, channels.slack.bot_token, delivery.address)
            await client.chat_postMessage(channel=channel, text=delivery.message["text"],
                                          blocks=delivery.message["blocks"], metadata=_metadata(delivery))
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            if error in _PERMANENT_SLACK_ERRORS:
                return Outcome(False, f"Slack refused: {error}", permanent=True)
            return _http_outcome(exc.response.status_code, exc.response.headers, f"Slack answered {error}")
        return Outcome.ok()

    async def _dm_channel(self, client: AsyncWebClient, token: str, email: str) -> str:
        key = _digest(f"{token}|{email}")
        if key not in self._dm_channels:
            user = await client.users_lookupByEmail(email=email)
            opened = await client.conversations_open(users=[user["user"]["id"]])
            self._dm_channels[key] = opened["channel"]["id"]
        return self._dm_channels[key]

    async def _email(self, delivery: Delivery, settings: EmailSettings | None) -> Outcome:
        if settings is None or not delivery.address:
            return Outcome(False, "no SMTP server is configured any more", permanent=True)
        try:
            await aiosmtplib.send(
                _email_message(delivery, settings), hostname=settings.host, port=settings.port,
                username=settings.username, password=settings.password, use_tls=settings.security == "tls",
                start_tls=settings.security == "starttls", timeout=self._timeout_s)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return Outcome(False, f"recipient refused: {exc}"[:500], permanent=True)
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx is the server's final word; 4xx asks to come back later.
            return Outcome(False, f"SMTP {exc.code}: {exc.message}"[:500], permanent=exc.code >= 500)
        except aiosmtplib.SMTPException as exc:
            return Outcome(False, f"{type(exc).__name__}: {exc}"[:500])
        return Outcome.ok()


def _email_message(delivery: Delivery, settings: EmailSettings) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = delivery.message["subject"]
    message["From"] = settings.from_address
    message["To"] = delivery.address
    message["Date"] = formatdate(localtime=False, usegmt=True)
    # The delivery id as Message-ID: a resend after a crash is recognisably the same message.
    message["Message-ID"] = f"<{delivery.delivery_id}@dealpulse>"
    message["X-DealPulse-Delivery"] = delivery.delivery_id
    message.set_content(delivery.message["text"])
    message.add_alternative(delivery.message["html"], subtype="html")
    return message


def _metadata(delivery: Delivery) -> dict[str, Any]:
    """Slack message metadata naming the delivery, so a message can be traced to the row that sent it."""
    return {"event_type": METADATA_EVENT, "event_payload": {"delivery_id": delivery.delivery_id}}


def _http_outcome(status: int, headers: Any, error: str) -> Outcome:
    if status == 429:
        return Outcome(False, error, retry_after_s=_retry_after(headers))
    # 5xx and anything unexpected is worth another try; a 4xx is the request's own fault.
    return Outcome(False, error, permanent=400 <= status < 500)


def _retry_after(headers: Any) -> float:
    raw = None
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
    try:
        return max(0.0, float(raw)) if raw is not None else 1.0
    except ValueError:
        return 1.0


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
