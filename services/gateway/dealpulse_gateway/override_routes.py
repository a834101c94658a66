"""Verdict overrides: ``POST`` / ``DELETE /v1/deals/{id}/verdict-override`` (managers and admins; a rep gets 403).

verdict owns ``verdict_overrides`` and the deal's verdict, so the gateway does not write them: it audits the
request (who, when, before, after, reason) in its ``audit_log`` and publishes the command on
``deal.verdict.override.v1``, in one transaction that commits only once the broker acknowledged the command — a
202 means recorded and on its way, a broker outage is a 503 with nothing recorded. verdict then records the
override in ``verdict_overrides`` and re-publishes the deal's verdict carrying it: that verdict is what the live
feed, ``GET /v1/deals/{id}`` and the aggregates show (docs/ARCHITECTURE.md, "Verdict overrides").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request

from dealpulse_common.auth import Principal
from dealpulse_common.events import (
    DealVerdictOverride,
    DealVerdictOverrideData,
    ForecastBucket,
    OverrideReason,
    VerdictOverride,
)
from dealpulse_common.http_auth import CurrentPrincipal
from dealpulse_common.kafka import EventPublisher, PublishError
from dealpulse_common.service import ServiceUnavailable
from dealpulse_common.topics import DEAL_VERDICT_OVERRIDE
from dealpulse_gateway import store
from dealpulse_gateway.auth import may_override_verdicts
from dealpulse_gateway.deal_reads import visible_deal
from dealpulse_gateway.settings import GatewaySettings
from dealpulse_gateway.views import OverrideAccepted, OverrideRequest

router = APIRouter(prefix="/v1/deals", tags=["overrides"])

SOURCE = "dealpulse/gateway"
DEAL_ID = Annotated[str, Path(min_length=1, max_length=200)]
PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or expired bearer token (problem details)"},
    403: {"description": "The caller is a rep (only managers and admins override verdicts)"},
    404: {"description": "No such deal in the caller's tenant"},
    409: {"description": "Nothing to override: the deal is deleted, closed (its verdict is pinned to the outcome) "
                         "or has no verdict yet; or, for DELETE, no override is in force"},
    422: {"description": "Invalid body: forecast_category must be pipeline, best_case or commit; a reason is "
                         "required"},
    503: {"description": "Database or broker unavailable, nothing recorded; retry after Retry-After seconds"},
}


@router.post("/{deal_id}/verdict-override", status_code=202, response_model=OverrideAccepted, responses=PROBLEMS)
async def set_override(request: Request, principal: CurrentPrincipal, deal_id: DEAL_ID,
                       body: OverrideRequest) -> OverrideAccepted:
    """Put a manager's call (with the reason) in force beside the AI verdict, until removed or the deal closes."""
    return await _command(request, principal, deal_id, "set", body.forecast_category, body.reason)


@router.delete("/{deal_id}/verdict-override", status_code=202, response_model=OverrideAccepted, responses=PROBLEMS)
async def clear_override(
    request: Request, principal: CurrentPrincipal, deal_id: DEAL_ID,
    reason: Annotated[OverrideReason | None, Query(description="Why it is removed (optional)")] = None,
) -> OverrideAccepted:
    """Remove the override in force: the AI verdict stands alone again."""
    return await _command(request, principal, deal_id, "clear", None, reason)


async def _command(request: Request, principal: Principal, deal_id: str, action: Literal["set", "clear"],
                   forecast_category: ForecastBucket | None, reason: str | None) -> OverrideAccepted:
    if not may_override_verdicts(principal):
        raise HTTPException(403, "only a manager or an admin may override a verdict")
    settings: GatewaySettings = request.app.state.settings
    command = DealVerdictOverride.create(
        source=SOURCE, tenant_id=principal.tenant_id, deal_id=deal_id,
        data=DealVerdictOverrideData(action=action, forecast_category=forecast_category, reason=reason,
                                     requested_by=principal.user_id, requested_at=datetime.now(UTC)))
    async with store.tenant_transaction_of(request, principal.tenant_id) as conn:
        record = await visible_deal(conn, principal, deal_id)
        ai_verdict, previous = _overridable(record, action)
        after = command.data.requested(ai_verdict)
        audit_id = await store.write_audit(conn, principal.tenant_id, principal.user_id, f"verdict_override.{action}",
                                           deal_id, {
            "before": _json(previous), "after": _json(after), "ai_verdict": ai_verdict.value, "reason": reason,
            "role": principal.role.value, "command_id": command.id})
        await _publish(request.app.state.publisher, command, settings.retry_after_s)
    return OverrideAccepted(deal_id=deal_id, action=action, override=after, previous=previous,
                            ai_verdict=ai_verdict.value, command_id=command.id, audit_id=audit_id)


def _overridable(record: store.DealRecord, action: str) -> tuple[ForecastBucket, VerdictOverride | None]:
    """The AI verdict an override stands beside and the override in force, or the 409 saying why there is none."""
    if record.deleted_at is not None:
        raise HTTPException(409, "the deal was deleted in the CRM")
    if record.verdict is None:
        raise HTTPException(409, "the deal has no AI verdict yet to override")
    if record.snapshot.get("is_closed") or not record.verdict.get("predictive_eligible", True):
        raise HTTPException(409, "a closed deal's verdict is pinned to its outcome")
    previous = record.verdict.get("override")
    if action == "clear" and previous is None:
        raise HTTPException(409, "no override is in force on this deal")
    return ForecastBucket(record.verdict["ai_verdict"]), None if previous is None else VerdictOverride(**previous)


async def _publish(publisher: EventPublisher, command: DealVerdictOverride, retry_after_s: int) -> None:
    try:
        await publisher.publish(DEAL_VERDICT_OVERRIDE, command)
    except PublishError as exc:  # raised inside the transaction: the audit row is rolled back with it
        raise ServiceUnavailable("the broker did not take the override; nothing was recorded, retry later",
                                 retry_after_s) from exc


def _json(override: VerdictOverride | None) -> dict[str, Any] | None:
    return None if override is None else override.model_dump(mode="json")
