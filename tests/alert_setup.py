"""Given-steps of the alert delivery tests: users in a tenant, its channels set through the gateway, and critical
scores published as the scorer would."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx

from dealpulse_common.events import DealScored, utcnow
from dealpulse_common.topics import DEAL_SCORED
from tests import events
from tests.alert_fakes import SlackFake, SmtpSink
from tests.support import Person, RunningSystem, Tenant, add_users

OWNER = Person("rep-ann", "ann@example.test", manager_id="mgr-bo")
MANAGER = Person("mgr-bo", "bo@example.test", role="manager")


async def tenant_with_team(system: RunningSystem, prefix: str) -> Tenant:
    """A tenant of its own with a rep (the deals' owner) and her manager, each with a mailbox of the tenant."""
    tenant = await system.new_tenant(prefix)
    await add_users(system, tenant,
                    Person(OWNER.user_id, email_of("ann", tenant), manager_id=MANAGER.user_id),
                    Person(MANAGER.user_id, email_of("bo", tenant), role="manager"))
    return tenant


def email_of(name: str, tenant: Tenant) -> str:
    return f"{name}+{tenant.tenant_id}@example.test"


def channels(slack: SlackFake | None, smtp: SmtpSink | None, *, webhook: str | None = None,
             dm: bool = True, **extra: Any) -> dict[str, Any]:
    """A PUT /v1/admin/alert-channels body pointing at the local fakes."""
    body: dict[str, Any] = {**extra}
    if slack is not None:
        body["slack"] = {"webhook_url": slack.webhook_url(webhook) if webhook else None,
                         "bot_token": "xoxb-test-token" if dm else None, "signing_secret": "test-signing-secret",
                         "channel_min_severity": "high"}
    if smtp is not None:
        body["email"] = {"host": "127.0.0.1", "port": smtp.port, "from_address": "alerts@dealpulse.test",
                         "security": "none", "username": None, "password": None}
    return body


async def configure_channels(system: RunningSystem, tenant: Tenant, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.put(f"{system.url('gateway')}/v1/admin/alert-channels", json=body,
                                headers={"authorization": f"Bearer {system.token(tenant)}"})


async def configure_user(system: RunningSystem, tenant: Tenant, user_id: str, prefs: dict[str, Any],
                         role: str = "rep") -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(f"{system.url('gateway')}/v1/alerts/configure", json=prefs,
                                 headers={"authorization": f"Bearer {system.token(tenant, role, user_id)}"})


def critical_score(tenant: Tenant, deal_id: str, owner_id: str, *, manager_id: str | None = None,
                   scored_at: datetime | None = None, risk: int = 85) -> DealScored:
    """A deal entering critical on its first score (the alert every channel takes)."""
    deal = events.deal(tenant.tenant_id, deal_id, name=f"Deal {deal_id}", amount=50_000, owner_id=owner_id,
                       manager_id=manager_id)
    data = events.scored_data(deal, risk_score=risk, factors=[events.STALLED], scored_at=scored_at or utcnow(),
                              source_event_id=f"crm-{uuid.uuid4().hex[:8]}")
    return events.scored_event(data)


async def publish_scores(system: RunningSystem, scores: list[DealScored]) -> None:
    await system.publish(DEAL_SCORED, scores)


async def deliveries(system: RunningSystem, tenant: Tenant, **where: str) -> list[dict[str, Any]]:
    clauses = "".join(f" AND {column} = ${n}" for n, column in enumerate(where, start=2))
    rows = await system.admin_fetch(
        f"SELECT * FROM alert_deliveries WHERE tenant_id = $1{clauses} ORDER BY created_at, delivery_id",
        tenant.tenant_id, *where.values())
    return [dict(row) for row in rows]


async def settled(system: RunningSystem, tenant: Tenant, expected: int) -> list[dict[str, Any]] | None:
    """The tenant's deliveries once ``expected`` exist and none is pending: a poll_until probe."""
    rows = await deliveries(system, tenant)
    if len(rows) >= expected and all(row["status"] != "pending" for row in rows):
        return rows
    return None
