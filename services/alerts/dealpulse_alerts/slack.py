"""An alert as Slack Block Kit blocks: ready for any bot to post, within Slack's documented limits.

Limits (api.slack.com/reference/block-kit): at most 50 blocks a message; header text 150 characters; section
text 3,000; section fields 10, each 2,000; button text 75, value 2,000, url 3,000; action_id and block_id 255.
CRM text is untrusted: it is escaped for mrkdwn and clipped, never allowed to break the layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson

from dealpulse_alerts.deal_card import DealCard
from dealpulse_common.events import AlertType

HEADER_LIMIT = 150
TEXT_LIMIT = 3000
FIELD_LIMIT = 2000
BUTTON_TEXT_LIMIT = 75
MAX_BLOCKS = 50

# The interactions a Slack app routes back to DealPulse; feedback handling keys on these ids.
OPEN_DEAL_ACTION = "open_deal"
SNOOZE_ACTION = "snooze_24h"
FALSE_ALARM_ACTION = "false_alarm"

_SEVERITY_MARK = {"critical": "🔴", "high": "🟠", "medium": "🟡"}
_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


@dataclass(frozen=True)
class AlertView:
    alert_id: str
    tenant_id: str
    alert_type: AlertType
    severity: str
    title: str
    summary: str
    card: DealCard
    why_heading: str
    why: list[str]
    deep_link: str
    raised_at: datetime


def deal_link(dashboard_url: str, deal_id: str) -> str:
    """The gateway dashboard opened on one deal."""
    return f"{dashboard_url.rstrip('/')}/#deal={quote(deal_id, safe='')}"


def alert_blocks(view: AlertView) -> list[dict[str, Any]]:
    card = view.card
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(f"{_SEVERITY_MARK.get(view.severity, '')} {view.title}".strip(),
                                          HEADER_LIMIT)},
        {"type": "section", "text": _mrkdwn(escape(view.summary)), "fields": _deal_fields(card)},
    ]
    if card.factors:
        blocks.append(_bullets("Top risk factors",
                               [f"*{escape(f.label)}*: {escape(f.description)}" for f in card.factors]))
    if view.why:
        blocks.append(_bullets(view.why_heading, [escape(line) for line in view.why]))
    immediate = [r for r in card.recommendations if r.priority in ("immediate", "this_week")]
    if immediate:
        blocks.append(_bullets("Recommended actions",
                               [f"{escape(r.action)} _({r.priority.replace('_', ' ')})_" for r in immediate[:3]]))
    blocks.append({"type": "context", "elements": [_mrkdwn(
        f"{view.alert_type.value.replace('_', ' ')} · deal `{escape(card.deal_id)}` · "
        f"{_slack_date(view.raised_at)}")]})
    blocks.append({"type": "actions", "block_id": "dealpulse_alert_actions", "elements": _buttons(view)})
    return blocks[:MAX_BLOCKS]


def escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_amount(amount: float | None, currency: str) -> str:
    if amount is None:
        return "—"
    symbol = _CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{amount:,.0f}" if symbol else f"{amount:,.0f} {currency}"


def _deal_fields(card: DealCard) -> list[dict[str, str]]:
    deal = escape(card.name or card.deal_id)
    if card.account_name and card.account_name != card.name:
        deal += f" · {escape(card.account_name)}"
    risk = "—" if card.risk_score is None else f"{card.risk_score}/100"
    if card.risk_category is not None:
        risk += f" ({card.risk_category.value})"
    owner = escape(card.owner_name or card.owner_id or "—")
    return [_mrkdwn(f"*{label}*\n{value}", FIELD_LIMIT) for label, value in (
        ("Deal", deal), ("Amount", format_amount(card.amount, card.currency)), ("Risk score", risk), ("Owner", owner),
    )]


def _bullets(heading: str, lines: list[str]) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(f"*{heading}*\n" + "\n".join(f"• {line}" for line in lines))}


def _buttons(view: AlertView) -> list[dict[str, Any]]:
    # The value carries what a feedback handler needs to record the click against the right tenant's alert.
    value = orjson.dumps({"tenant_id": view.tenant_id, "alert_id": view.alert_id,
                          "deal_id": view.card.deal_id}).decode()
    return [
        {"type": "button", "text": _plain("Open deal", BUTTON_TEXT_LIMIT), "action_id": OPEN_DEAL_ACTION,
         "url": view.deep_link, "value": value, "style": "primary"},
        {"type": "button", "text": _plain("Snooze 24h", BUTTON_TEXT_LIMIT), "action_id": SNOOZE_ACTION,
         "value": value},
        {"type": "button", "text": _plain("False alarm", BUTTON_TEXT_LIMIT), "action_id": FALSE_ALARM_ACTION,
         "value": value, "style": "danger"},
    ]


def _slack_date(moment: datetime) -> str:
    """Rendered in each reader's own time zone by Slack; the fallback is UTC."""
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{moment:%Y-%m-%d %H:%M} UTC>"


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _clip(text, limit), "emoji": True}


def _mrkdwn(text: str, limit: int = TEXT_LIMIT) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _clip(text, limit)}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
