"""Alerts' HTTP edge: the test alert a tenant admin asks for (through the gateway's
``POST /v1/admin/alert-channels/test``). It plans a test delivery on every configured channel, lets the delivery
worker send them as it sends any other, and answers what became of each.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request

from dealpulse_alerts import delivery_store as store
from dealpulse_alerts.delivery_plan import Recipient, plan_test
from dealpulse_alerts.planning import user_zone
from dealpulse_common.db import tenant_transaction
from dealpulse_common.events import utcnow
from dealpulse_common.http_auth import CurrentAdmin

router = APIRouter()


@router.post("/v1/test-alerts")
async def send_test_alert(request: Request, principal: CurrentAdmin) -> dict[str, Any]:
    pool = request.app.state.runtime.pool
    settings = request.app.state.settings
    tenant_id = principal.tenant_id
    async with tenant_transaction(pool, tenant_id) as conn:
        channels = await store.channel_settings(conn, tenant_id)
        users = await store.users(conn, tenant_id, [principal.user_id])
        person = next((Recipient(u.user_id, u.email, u.name, user_zone(u.preferences.timezone, u.timezone),
                                 u.preferences) for u in users), None)
        planned = plan_test(tenant_id, uuid.uuid4().hex, channels, person, utcnow())
        await store.insert_deliveries(conn, tenant_id, planned)
    ids = [d.delivery_id for d in planned]
    deadline = asyncio.get_running_loop().time() + settings.test_alert_wait_s
    while True:
        async with tenant_transaction(pool, tenant_id) as conn:
            statuses = await store.delivery_statuses(conn, tenant_id, ids)
        settled = all(s["status"] != "pending" for s in statuses)
        if settled or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.2)
    return {"deliveries": statuses, "settled": settled,
            "note": None if planned else "no channel is configured (PUT /v1/admin/alert-channels)"
                    if channels.slack is None and channels.email is None
                    else "the caller has no e-mail in users, and no webhook is configured"}
