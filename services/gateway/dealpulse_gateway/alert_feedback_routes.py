"""Feedback closes the loop: acknowledge, snooze for a while, or mark a false alarm, from the API or from the
buttons on an alert's Slack message.

``POST /v1/alerts/{alert_id}/feedback`` records the caller's feedback; ``POST /v1/slack/interactions/{tenant_id}``
is the tenant's Slack app's interactivity URL: the request must carry Slack's signature (``v0:`` HMAC-SHA256 of
the body with the tenant's signing secret, within 5 minutes) before anything in it is read. A snooze stops alerts of
that type for the deal until it ends (the alerts service checks it before raising one); precision per alert type is
the share of alerts nobody marked a false alarm.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field
from slack_sdk.signature import SignatureVerifier

from dealpulse_common import metrics
from dealpulse_common.alert_settings import ChannelSettings
from dealpulse_common.auth import Principal
from dealpulse_common.events import AlertType, DealAlertData
from dealpulse_common.http_auth import CurrentPrincipal
from dealpulse_common.tenancy import is_tenant_id
from dealpulse_gateway import alert_store, store
from dealpulse_gateway.auth import owner_scope, visible_to
from dealpulse_gateway.query_params import READ_PROBLEMS, parse_choices

router = APIRouter(tags=["alerts"])

# The action ids of the alert's buttons (dealpulse_alerts.slack) and what each means here.
SLACK_ACTIONS = {"snooze_24h": "snooze", "false_alarm": "false_alarm", "open_deal": "acknowledge"}
SLACK_SNOOZE = timedelta(hours=24)
MAX_SNOOZE_HOURS = 24 * 30
SEVERITIES = ("critical", "high", "medium")


class Feedback(BaseModel):
    action: Literal["acknowledge", "snooze", "false_alarm"]
    snooze_hours: float | None = Field(None, gt=0, le=MAX_SNOOZE_HOURS, description="Only for snooze; default 24")
    reason: str | None = Field(None, max_length=2000, description="Why it is a false alarm (or any note)")


class FeedbackView(BaseModel):
    alert_id: str
    action: str
    recorded: bool = Field(description="False when this very feedback had been recorded before")
    snoozed_until: datetime | None = None


class Precision(BaseModel):
    alert_type: str
    alerts: int
    false_alarms: int
    precision: float | None


@router.post("/v1/alerts/{alert_id}/feedback", response_model=FeedbackView)
async def alert_feedback(request: Request, principal: CurrentPrincipal, body: Feedback,
                         alert_id: Annotated[str, Path(min_length=1, max_length=64)]) -> FeedbackView:
    """Acknowledge, snooze (for ``snooze_hours``) or mark a false alarm (with a ``reason``)."""
    return await _record(request, principal.tenant_id, principal.user_id, alert_id, body,
                         dedupe_key=None, viewer=principal)


@router.post("/v1/slack/interactions/{tenant_id}", include_in_schema=False)
async def slack_interaction(request: Request, tenant_id: str) -> dict[str, Any]:
    """A click on an alert's button, as the tenant's Slack app forwards it (signed with its signing secret)."""
    raw = await request.body()
    if not is_tenant_id(tenant_id):
        raise HTTPException(401, "invalid Slack signature")
    async with store.tenant_transaction_of(request, tenant_id) as conn:
        stored, _ = await alert_store.channel_settings(conn, tenant_id)
    channels = ChannelSettings.model_validate(stored) if stored else ChannelSettings()
    secret = channels.slack.signing_secret if channels.slack else None
    if secret is None or not SignatureVerifier(secret).is_valid_request(raw, dict(request.headers)):
        raise HTTPException(401, "invalid Slack signature")
    payload = json.loads(parse_qs(raw.decode())["payload"][0])
    user = payload.get("user", {}).get("id", "slack")
    answers = []
    for action in payload.get("actions", []):
        kind = SLACK_ACTIONS.get(action.get("action_id"))
        value = json.loads(action.get("value") or "{}")
        if kind is None or value.get("tenant_id") != tenant_id:
            continue
        feedback = Feedback(action=kind, snooze_hours=SLACK_SNOOZE.total_seconds() / 3600 if kind == "snooze"
                            else None, reason="marked from Slack" if kind == "false_alarm" else None)
        dedupe = f"slack:{payload.get('trigger_id') or action.get('action_ts')}:{action['action_id']}"
        answers.append(await _record(request, tenant_id, f"slack:{user}", str(value.get("alert_id")), feedback,
                                     dedupe_key=dedupe, viewer=None))
    text = "; ".join(f"{a.action} recorded" for a in answers) or "nothing to record"
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


class FeedbackGiven(BaseModel):
    action: str
    by: str
    at: datetime
    snoozed_until: datetime | None = None


class AlertView(BaseModel):
    alert_id: str
    deal_id: str
    alert_type: AlertType
    severity: str
    title: str
    summary: str
    risk_score: int
    deal_name: str | None
    amount: float | None
    currency: str | None
    owner_id: str | None
    deep_link: str
    raised_at: datetime
    feedback: FeedbackGiven | None = Field(description="The latest feedback anyone gave on it")


class AlertsPage(BaseModel):
    alerts: list[AlertView]
    has_more: bool
    next_before: datetime | None = Field(description="Pass as `before` for the next (older) page")
    next_before_id: str | None = Field(description="Pass as `before_id` with `next_before` for the next page")


@router.get("/v1/alerts", response_model=AlertsPage, responses=READ_PROBLEMS)
async def recent_alerts(
    request: Request, principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[datetime | None, Query(description="Only alerts raised before this time")] = None,
    before_id: Annotated[str | None, Query(min_length=1, max_length=64, description=(
        "With `before`: the last alert of the previous page, so alerts raised at that same time follow it"))] = None,
    deal_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    alert_type: Annotated[list[str] | None, Query(description="entered_critical, risk_jump, commit_not_admitted")]
    = None,
    severity: Annotated[list[str] | None, Query(description="critical, high, medium")] = None,
) -> AlertsPage:
    """The alerts raised on deals the caller may see, newest first, each with its latest feedback — what the
    dashboard's alerts panel shows when it opens."""
    types = parse_choices(alert_type, [t.value for t in AlertType], "alert_type")
    severities = parse_choices(severity, list(SEVERITIES), "severity")
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        scope = await owner_scope(conn, principal)
        rows = await alert_store.recent_alerts(conn, principal.tenant_id, scope.listed(), deal_id, types,
                                               severities, before, before_id, limit + 1)
    alerts = [_alert_view(row) for row in rows[:limit]]
    more = len(rows) > limit
    return AlertsPage(alerts=alerts, has_more=more, next_before=alerts[-1].raised_at if more else None,
                      next_before_id=alerts[-1].alert_id if more else None)


def _alert_view(row: Any) -> AlertView:
    data = DealAlertData.model_validate(row["payload"])
    feedback = None if row["feedback_action"] is None else FeedbackGiven(
        action=row["feedback_action"], by=row["feedback_by"], at=row["feedback_at"],
        snoozed_until=row["snoozed_until"])
    # The column's raised_at, not the payload's: it is what the list is ordered and paged by.
    fields = {**data.model_dump(include=set(AlertView.model_fields)), "raised_at": row["raised_at"]}
    return AlertView(**fields, deal_id=row["deal_id"], feedback=feedback)


@router.get("/v1/alerts/precision", response_model=list[Precision])
async def alert_precision(request: Request, principal: CurrentPrincipal) -> list[Precision]:
    """Per alert type: alerts raised, how many were marked a false alarm, and the share that were not."""
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        rows = await alert_store.precision(conn, principal.tenant_id)
    answer = [Precision(alert_type=t, alerts=n, false_alarms=f, precision=round(1 - f / n, 4) if n else None)
              for t, n, f in rows]
    for item in answer:
        if item.precision is not None:
            metrics.ALERT_PRECISION.labels(item.alert_type).set(item.precision)
    return answer


async def _record(request: Request, tenant_id: str, user_id: str, alert_id: str, body: Feedback,
                  dedupe_key: str | None, viewer: Principal | None) -> FeedbackView:
    """``viewer``: the caller whose scope the alert's deal must be in (None: the tenant's own Slack app, whose
    signature vouches for the click)."""
    now = datetime.now(UTC)
    until = now + timedelta(hours=body.snooze_hours or 24) if body.action == "snooze" else None
    async with store.tenant_transaction_of(request, tenant_id) as conn:
        stored = await alert_store.alert(conn, tenant_id, alert_id)
        if stored is None:
            raise HTTPException(404, f"alert {alert_id!r} not found")
        if viewer is not None and not visible_to(await owner_scope(conn, viewer), stored.owner_id):
            raise HTTPException(403, "this alert's deal is outside what you may see")
        key = dedupe_key or f"api:{user_id}:{alert_id}:{body.action}:{now.isoformat()}"
        recorded = await alert_store.insert_feedback(conn, tenant_id, stored, user_id, body.action, body.reason,
                                                     until, key)
    if recorded:
        metrics.ALERT_FEEDBACK.labels(stored.alert_type, body.action).inc()
    return FeedbackView(alert_id=alert_id, action=body.action, recorded=recorded, snoozed_until=until)

