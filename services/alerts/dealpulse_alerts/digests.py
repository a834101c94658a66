"""What a daily digest and a weekly executive summary say, and how each is rendered for Slack and e-mail.
Pure: the scheduler reads the numbers and hands them over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dealpulse_alerts import emails
from dealpulse_alerts.delivery_plan import slack_message
from dealpulse_alerts.slack import deal_link, escape, format_amount


@dataclass(frozen=True)
class DigestDeal:
    deal_id: str
    name: str | None
    amount: float | None
    currency: str
    risk_score: int
    risk_category: str
    top_factor: str | None
    link: str


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    deals: int
    amount: float


@dataclass(frozen=True)
class Digest:
    period: str
    deals: list[DigestDeal]  # the top N, riskiest first
    totals: list[CurrencyTotal]  # over all of the user's high-risk deals, per currency


@dataclass(frozen=True)
class PipelineTotal:
    currency: str
    pipeline: float
    risk_adjusted: float
    at_risk: float


@dataclass(frozen=True)
class Mover:
    deal_id: str
    name: str | None
    risk_score: int
    was: int


@dataclass(frozen=True)
class Summary:
    period: str
    pipeline: list[PipelineTotal]
    win_rate: float | None  # the last 4 weeks
    previous_win_rate: float | None  # the 4 weeks before
    movers: list[Mover]


def digest_deal(row: Any, dashboard_url: str) -> DigestDeal:
    return DigestDeal(row["deal_id"], row["name"], row["amount"], row["currency"], row["risk_score"],
                      row["risk_category"], row["top_factor"], deal_link(dashboard_url, row["deal_id"]))


def digest_messages(digest: Digest) -> dict[str, dict[str, Any]]:
    """The digest as a Slack message and as an e-mail."""
    title = f"Your {len(digest.deals)} riskiest deals today"
    lines = [f"• <{d.link}|{escape(d.name or d.deal_id)}> — {format_amount(d.amount, d.currency)}, risk "
             f"{d.risk_score} ({d.risk_category})" + (f": {escape(d.top_factor)}" if d.top_factor else "")
             for d in digest.deals]
    totals = ", ".join(f"{t.deals} deals, {format_amount(t.amount, t.currency)}" for t in digest.totals)
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": title}},
              {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}},
              {"type": "context", "elements": [{"type": "mrkdwn", "text": f"High risk in all: {totals}"}]}]
    return {"slack": slack_message(title, blocks),
            "email": emails.render("digest", f"[DealPulse] {title} ({digest.period})", digest=digest)}


def summary_messages(summary: Summary) -> dict[str, dict[str, Any]]:
    title = f"Weekly pipeline summary {summary.period}"
    lines = [f"*{t.currency}*: pipeline {format_amount(t.pipeline, t.currency)}, risk-adjusted "
             f"{format_amount(t.risk_adjusted, t.currency)}, at risk {format_amount(t.at_risk, t.currency)}"
             for t in summary.pipeline]
    lines.append(f"Win rate (4 weeks): {percent(summary.win_rate)} (before: {percent(summary.previous_win_rate)})")
    lines.extend(f"• {escape(m.name or m.deal_id)}: risk {m.was} → {m.risk_score}" for m in summary.movers)
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": title}},
              {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}}]
    return {"slack": slack_message(title, blocks),
            "email": emails.render("summary", f"[DealPulse] {title}", summary=summary, percent=percent)}


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.0%}"
