"""Which alerts an event calls for, and what each alert says. Pure rules, no I/O.

One source event raises at most one alert: its candidates come in priority order and the consumer raises the
first one the per-deal throttle admits (a deal that jumps into critical gets one "entered critical" message that
shows the jump, not two messages in the same second). Bulk sources raise none (``QUIET_PROVIDERS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from dealpulse_alerts import slack
from dealpulse_alerts.deal_card import DealCard
from dealpulse_common.events import (
    IMPORT_PROVIDER,
    OVERRIDE_PROVIDER,
    RESCORE_PROVIDER,
    AlertType,
    CommitAdmission,
    DealAlert,
    DealAlertData,
    DealScored,
    DealScoredData,
    DealVerdict,
    ForecastBucket,
    RiskCategory,
    deterministic_id,
)
from dealpulse_common.tenant_rules import AlertRuleSettings
from dealpulse_common.tracing import continue_trace

SOURCE = "dealpulse/alerts"
# A history import or a model promotion re-states many deals at once. Their scores and verdicts reach the dashboard
# like any other, but none of them is news about a deal, and one alert each would be the storm alerts exist to avoid.
# A verdict re-stated for a manager's override is the same judgement of the deal, with the manager's call beside it.
QUIET_PROVIDERS = frozenset({IMPORT_PROVIDER, RESCORE_PROVIDER, OVERRIDE_PROVIDER})
Severity = Literal["critical", "high", "medium"]


@dataclass(frozen=True)
class AlertRules:
    """A tenant's rules in force: its ``alert_rules`` settings, else the service's defaults."""

    risk_jump_points: int = 20
    risk_jump_window: timedelta = timedelta(days=7)
    throttle_window: timedelta = timedelta(hours=24)

    @classmethod
    def of(cls, settings: AlertRuleSettings) -> AlertRules:
        return cls(risk_jump_points=settings.risk_jump_points, risk_jump_window=settings.risk_jump_window,
                   throttle_window=settings.throttle_window)


@dataclass(frozen=True)
class PastScore:
    """One earlier score of a deal: what a risk jump is measured from."""

    risk_score: int
    scored_at: datetime


@dataclass(frozen=True)
class RiskJump:
    rise: int
    since: PastScore  # the lowest score of the window, from which risk rose


@dataclass(frozen=True)
class Candidate:
    """An alert an event calls for, before the throttle has had its say."""

    alert_type: AlertType
    tenant_id: str
    deal_id: str
    source_event_id: str
    occurred_at: datetime
    jump: RiskJump | None = None  # the evidence of a risk-jump alert

    @property
    def alert_id(self) -> str:
        return alert_id_for(self.tenant_id, self.deal_id, self.alert_type, self.source_event_id)

    @property
    def dedupe_key(self) -> str:
        """What the throttle counts: one alert per key per window."""
        return f"{self.tenant_id}:{self.deal_id}:{self.alert_type.value}"


def alert_id_for(tenant_id: str, deal_id: str, alert_type: AlertType, source_event_id: str) -> str:
    """Derived from what caused the alert, so a replayed event finds the alert it raised the first time."""
    return deterministic_id(tenant_id, deal_id, alert_type.value, source_event_id)


# ---------------------------------------------------------------- rules


def entered_critical(data: DealScoredData) -> bool:
    """Critical now and not critical at the previous score; a deal first scored critical enters it too."""
    return data.risk_category is RiskCategory.CRITICAL and data.previous_category is not RiskCategory.CRITICAL


def may_jump(data: DealScoredData, rules: AlertRules) -> bool:
    """Whether a score could be a risk jump at all: worth looking up the deal's recent scores for."""
    return not _quiet(data) and data.risk_score >= rules.risk_jump_points


def risk_jump(data: DealScoredData, rules: AlertRules, lowest_stored: PastScore | None = None) -> RiskJump | None:
    """A rise of at least ``risk_jump_points`` over the deal's lowest score of the ``risk_jump_window`` before this
    one: three rises of 10 within a week are a jump of 30, however the steps fell.

    ``lowest_stored`` is the lowest earlier score the store holds for that window; the event's own previous score
    counts too (it is one of them, and is all there is when the store has not seen the deal).
    """
    previous = data.since_previous
    known = [lowest_stored] if lowest_stored is not None else []
    if previous is not None:
        known.append(PastScore(previous.previous_risk_score, previous.previous_scored_at))
    recent = [p for p in known if timedelta(0) <= data.scored_at - p.scored_at <= rules.risk_jump_window]
    if not recent:
        return None
    lowest = min(recent, key=lambda p: (p.risk_score, -p.scored_at.timestamp()))
    rise = data.risk_score - lowest.risk_score
    return RiskJump(rise, lowest) if rise >= rules.risk_jump_points else None


def scored_candidates(event: DealScored, rules: AlertRules, lowest_stored: PastScore | None = None) -> list[Candidate]:
    """``lowest_stored``: the deal's lowest stored score of the jump window before this one (see ``risk_jump``)."""
    data = event.data
    if _quiet(data):
        return []
    found = []
    if entered_critical(data):
        found.append(Candidate(AlertType.ENTERED_CRITICAL, event.tenantid, event.dealid, event.id, data.scored_at))
    if (jump := risk_jump(data, rules, lowest_stored)) is not None:
        found.append(Candidate(AlertType.RISK_JUMP, event.tenantid, event.dealid, event.id, data.scored_at, jump))
    return found


def _quiet(data: DealScoredData) -> bool:
    """Closed (as ingest's normaliser decided it) or from a bulk source: no alert."""
    return data.deal.is_closed or data.provider in QUIET_PROVIDERS


def verdict_candidates(event: DealVerdict) -> list[Candidate]:
    data = event.data
    if data.provider in QUIET_PROVIDERS:
        return []
    if data.ai_forecast in (ForecastBucket.CLOSED_WON, ForecastBucket.CLOSED_LOST):  # pinned: the deal is closed
        return []
    if data.commit_admission is not CommitAdmission.NOT_ADMITTED:
        return []
    return [Candidate(AlertType.COMMIT_NOT_ADMITTED, event.tenantid, event.dealid, event.id, data.decided_at)]


# ---------------------------------------------------------------- what an alert says


@dataclass(frozen=True)
class _Wording:
    severity: Severity
    title: str
    summary: str
    why: list[str]
    why_heading: str = "Why it changed"


def compose_alert(candidate: Candidate, source: DealScored | DealVerdict, dashboard_url: str,
                  card: DealCard | None = None) -> DealAlert:
    """The alert event; its id is the alert id, so a replay republishes the very same event.

    ``card`` describes the deal for a verdict's alert (from the deal's latest score); a scored event carries its own.
    """
    if isinstance(source, DealScored):
        card = DealCard.from_scored(source.data)
        wording = _scored_wording(candidate, source.data, card)
    else:
        card = _card_for_verdict(source, card)
        wording = _verdict_wording(source, card)
    deep_link = slack.deal_link(dashboard_url, candidate.deal_id)
    blocks = slack.alert_blocks(slack.AlertView(
        alert_id=candidate.alert_id, tenant_id=candidate.tenant_id, alert_type=candidate.alert_type,
        severity=wording.severity, title=wording.title, summary=wording.summary, card=card,
        why_heading=wording.why_heading, why=wording.why, deep_link=deep_link, raised_at=candidate.occurred_at,
    ))
    data = DealAlertData(
        alert_id=candidate.alert_id, alert_type=candidate.alert_type, severity=wording.severity, title=wording.title,
        summary=wording.summary, risk_score=source.data.risk_score, deal_name=card.name or card.account_name,
        amount=card.amount, currency=card.currency, owner_id=card.owner_id, manager_id=card.manager_id,
        deep_link=deep_link, slack_blocks=blocks, source_event_id=candidate.source_event_id,
        raised_at=candidate.occurred_at, dedupe_key=candidate.dedupe_key, factors=card.factors,
        recommendations=card.recommendations,
    )
    return alert_event(candidate.tenant_id, candidate.deal_id, data, source.traceparent)


def alert_event(tenant_id: str, deal_id: str, data: DealAlertData, parent_trace: str | None) -> DealAlert:
    """The event for an alert, whether just composed or read back from the table to be published again."""
    return DealAlert.create(source=SOURCE, tenant_id=tenant_id, deal_id=deal_id, data=data, id=data.alert_id,
                            time=data.raised_at, traceparent=continue_trace(parent_trace))


def _card_for_verdict(source: DealVerdict, card: DealCard | None) -> DealCard:
    """The verdict's own risk score and owner win; the card's category only when it describes that same score."""
    card = card or DealCard(deal_id=source.dealid)
    same_score = card.risk_score == source.data.risk_score
    return card.model_copy(update={
        "risk_score": source.data.risk_score, "risk_category": card.risk_category if same_score else None,
        "owner_id": source.data.owner_id or card.owner_id,
    })


def _scored_wording(candidate: Candidate, data: DealScoredData, card: DealCard) -> _Wording:
    name = card.display_name
    previous = data.since_previous
    why = _why_changed(data)
    if candidate.alert_type is AlertType.ENTERED_CRITICAL:
        was = f", up from {previous.previous_risk_score}" if previous else ""
        was += f" ({data.previous_category.value})" if previous and data.previous_category else ""
        first = "" if data.previous_category else " on its first score"
        return _Wording("critical", f"Critical risk: {name}",
                        f"{name} entered critical risk{first} at {data.risk_score}/100{was}.", why)
    jump = candidate.jump
    assert jump is not None  # a risk-jump candidate always carries its jump
    return _Wording("high", f"Risk up {jump.rise} points: {name}",
                    f"{name}: risk rose from {jump.since.risk_score} to {data.risk_score} (+{jump.rise}) in "
                    f"{_span(data.scored_at - jump.since.scored_at)}.", why)


def _why_changed(data: DealScoredData) -> list[str]:
    previous = data.since_previous
    if previous is None:
        return ["First score for this deal."]
    delta = data.risk_score - previous.previous_risk_score
    lines = [f"Risk {previous.previous_risk_score} → {data.risk_score} ({delta:+d}) since "
             f"{previous.previous_scored_at:%b %d, %H:%M} UTC."]
    lines.extend(_sentence(change.description) for change in previous.changes[:5])
    return lines


def _verdict_wording(source: DealVerdict, card: DealCard) -> _Wording:
    data = source.data
    name = card.display_name
    supported = sum(1 for gate in data.gates if gate.passed)
    forecast, verdict = (bucket.value.replace("_", " ").title() for bucket in (data.ai_forecast, data.ai_verdict))
    verdict_note = f"AI verdict lowered from {forecast} to {verdict}." if data.ai_verdict is not data.ai_forecast \
        else f"AI verdict stays {verdict}."
    why = [gate.reason for gate in data.gates if not gate.passed] + [verdict_note]
    backed = "none" if supported == 0 else f"only {supported}"
    return _Wording(
        "medium", f"Commit not supported: {name}",
        f"{name} is called Commit, but {backed} of its {len(data.gates)} commit gates are backed by "
        f"high-confidence evidence. {verdict_note}",
        why, why_heading="Why the commit is not admitted",
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _span(elapsed: timedelta) -> str:
    hours = elapsed.total_seconds() / 3600
    if hours < 1:
        return f"{max(1, round(hours * 60))} min"
    if hours < 48:
        return f"{round(hours)} h"
    return f"{round(hours / 24)} days"
