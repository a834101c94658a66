"""Planning an alert's deliveries inside the transaction that stores it (the outbox): reads who and where, then
the pure plan (``delivery_plan``) decides. The alert event then names its recipients and when each is reached.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from dealpulse_alerts import delivery_store as store
from dealpulse_alerts.delivery_plan import PlannedDelivery, Recipient, plan_alert
from dealpulse_common import metrics
from dealpulse_common.alert_settings import zone_of
from dealpulse_common.events import DealAlert

log = logging.getLogger(__name__)

async def plan_deliveries(conn: asyncpg.Connection, alert: DealAlert, first_score: bool,
                          now: datetime) -> tuple[DealAlert, list[PlannedDelivery]]:
    """The alert as published (with recipients and ``deliver_after``) and the deliveries to store with it."""
    channels = await store.channel_settings(conn, alert.tenantid)
    recipients = await recipients_of(conn, alert)
    planned, named = plan_alert(alert, channels, recipients, now)
    if first_score and channels.first_score_critical_to_digest:
        planned = []  # the tenant asked for such deals in the digest only
        metrics.ALERTS_TO_DIGEST.labels(alert.data.alert_type.value).inc()
        named = [person.model_copy(update={"channels": []}) for person in named]
    for delivery in planned:
        if delivery.deliver_after > now:
            metrics.ALERT_DELIVERIES_DEFERRED.labels(delivery.channel).inc()
    earliest = min((person.deliver_after for person in named), default=None)
    data = alert.data.model_copy(update={"recipients": named, "deliver_after": earliest})
    return alert.model_copy(update={"data": data}), planned

async def recipients_of(conn: asyncpg.Connection, alert: DealAlert) -> list[Recipient]:
    """The deal's owner and manager (the deal's own, else the owner's manager in ``users``), as known users."""
    owner_id = alert.data.owner_id
    if owner_id is None:
        return []
    found = {user.user_id: user for user in await store.users(conn, alert.tenantid, [owner_id])}
    owner = found.get(owner_id)
    manager_id = alert.data.manager_id or (owner.manager_id if owner else None)
    if manager_id and manager_id != owner_id:
        found.update({user.user_id: user for user in await store.users(conn, alert.tenantid, [manager_id])})
    people: list[Recipient] = []
    for user_id, role in ((owner_id, "owner"), (manager_id, "manager")):
        user = found.get(user_id) if user_id else None
        if user is not None:
            people.append(Recipient(user.user_id, user.email, user.name, user_zone(user.preferences.timezone,
                                                                                      user.timezone),
                                    user.preferences, role))  # type: ignore[arg-type]
    return people

def user_zone(preferred: str | None, stored: str) -> ZoneInfo:
    """The zone a user's preferences name, else the one ``users`` holds, else UTC (a bad stored zone is logged)."""
    for name in (preferred, stored):
        if name:
            try:
                return zone_of(name)
            except ValueError:
                log.warning("ignoring unknown time zone %r", name)
    return ZoneInfo("UTC")
