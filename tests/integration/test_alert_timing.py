"""When alerts reach people: quiet hours defer to the window's end, one digest per user per day (with several
schedulers at once), the 24 h throttle, snoozes and Slack's signed button callbacks, and a kill -9 of the alerts
service mid-delivery.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from dealpulse_alerts.scheduler import Scheduler, SchedulerConfig
from dealpulse_common.db import create_pool
from dealpulse_common.events import DealScored, ScoreDelta, utcnow
from dealpulse_scorer.explain import risk_category
from dealpulse_scorer.features import N_FEATURES
from tests import events
from tests.alert_fakes import SlackFake, SmtpSink
from tests.alert_setup import (
    MANAGER,
    OWNER,
    channels,
    configure_channels,
    configure_user,
    critical_score,
    email_of,
    publish_scores,
    settled,
    tenant_with_team,
)
from tests.support import RunningSystem, Tenant, poll_until


async def test_a_quiet_hours_alert_waits_for_the_end_of_the_window(system: RunningSystem, smtp: SmtpSink) -> None:
    tenant = await tenant_with_team(system, "quiet")
    await configure_channels(system, tenant, channels(None, smtp))
    now = datetime.now(UTC).replace(microsecond=0)
    window_end = now + timedelta(seconds=15)
    answer = await configure_user(system, tenant, OWNER.user_id, {
        "timezone": "UTC", "quiet_hours": {"start": (now - timedelta(hours=1)).time().isoformat(),
                                           "end": window_end.time().isoformat()}})
    assert answer.status_code == 200, answer.text

    await publish_scores(system, [critical_score(tenant, "D-1", OWNER.user_id)])

    rows = await poll_until(lambda: settled(system, tenant, 2), timeout=60)
    owner_mail = next(row for row in rows if row["recipient"] == OWNER.user_id)
    assert owner_mail["deliver_after"] == window_end
    assert owner_mail["status"] == "sent" and owner_mail["sent_at"] >= window_end
    manager_mail = next(row for row in rows if row["recipient"] == MANAGER.user_id)
    assert manager_mail["deliver_after"] < window_end  # no quiet hours of his own
    [alert] = await system.admin_fetch("SELECT payload FROM alerts WHERE tenant_id = $1", tenant.tenant_id)
    recipients = {r["user_id"]: r for r in json.loads(alert["payload"])["recipients"]}
    assert datetime.fromisoformat(recipients[OWNER.user_id]["deliver_after"]) == window_end
    assert len(smtp.to(email_of("ann", tenant))) == 1


async def test_one_digest_per_user_per_day_with_three_schedulers_at_once(system: RunningSystem,
                                                                         smtp: SmtpSink) -> None:
    tenant = await tenant_with_team(system, "digest")
    deals = [(f"D-{n:02d}", 55 + 3 * n, 1_000.0 * (n + 1), "EUR" if n % 3 == 0 else "USD") for n in range(12)]
    for deal_id, risk, amount, currency in deals:
        await _scored_deal(system, tenant, deal_id, risk, amount, currency, OWNER.user_id)
    await _scored_deal(system, tenant, "D-low", 20, 9_999.0, "USD", OWNER.user_id)  # low risk: not in a digest
    await configure_user(system, tenant, OWNER.user_id, {"digest_time": "00:00", "channels": ["email"]})
    await configure_user(system, tenant, MANAGER.user_id, {"digest_enabled": False}, role="manager")
    pool = await create_pool(system.stack.database_url)
    schedulers = [Scheduler(pool, SchedulerConfig("http://dash.test")) for _ in range(2)]
    try:
        await configure_channels(system, tenant, channels(None, smtp))  # from now on the service's runs too
        await asyncio.gather(*(s.run_once() for s in schedulers))
        await poll_until(lambda: settled(system, tenant, 1), timeout=30)
        assert await schedulers[0].run_once() == 0  # the period has run: a later round plans nothing
    finally:
        await pool.close()

    runs = await system.admin_fetch("SELECT user_id, kind, period, deliveries FROM alert_schedule_runs "
                                    "WHERE tenant_id = $1", tenant.tenant_id)
    assert [(r["user_id"], r["kind"], r["deliveries"]) for r in runs] == [(OWNER.user_id, "digest", 1)]
    [mail] = smtp.to(email_of("ann", tenant))
    text = mail.part("text/plain")
    expected = sorted(deals, key=lambda d: (-d[1], -d[2]))[:10]
    listed = [line.split(" ")[1] for line in text.splitlines() if line[:1].isdigit()]
    assert listed == [deal_id for deal_id, *_ in expected]
    for currency in ("EUR", "USD"):
        mine = [d for d in deals if d[3] == currency]
        symbol = {"EUR": "€", "USD": "$"}[currency]
        assert f"- {currency}: {len(mine)} deals, {symbol}{sum(d[2] for d in mine):,.0f}" in text


async def test_the_throttle_and_a_snooze_decide_what_is_sent_next(system: RunningSystem, slack: SlackFake) -> None:
    tenant = await tenant_with_team(system, "snooze")
    await configure_channels(system, tenant, channels(slack, None, webhook=tenant.tenant_id, dm=False))
    yesterday, now = utcnow() - timedelta(hours=25), utcnow()
    await publish_scores(system, [critical_score(tenant, deal, OWNER.user_id, scored_at=yesterday)
                                  for deal in ("D-snoozed", "D-again")]
                         + [critical_score(tenant, "D-throttled", OWNER.user_id, scored_at=now - timedelta(hours=1))])
    await poll_until(lambda: system.has_rows("alerts", tenant, 3), timeout=30)
    [snoozed] = await system.admin_fetch("SELECT alert_id FROM alerts WHERE tenant_id = $1 AND deal_id = $2",
                                         tenant.tenant_id, "D-snoozed")
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(f"{system.url('gateway')}/v1/alerts/{snoozed['alert_id']}/feedback",
                                   json={"action": "snooze", "snooze_hours": 72},
                                   headers={"authorization": f"Bearer {system.token(tenant)}"})
    assert answer.status_code == 200, answer.text

    before = await _decisions(system)
    await publish_scores(system, [critical_score(tenant, deal, OWNER.user_id, scored_at=now)
                                  for deal in ("D-snoozed", "D-again", "D-throttled")])
    # Positive markers: the alerts service counted one snoozed and one throttled decision, and raised D-again.
    await poll_until(lambda: _alerts_of(system, tenant, "D-again", at_least=2), timeout=30)
    await poll_until(lambda: _decided(system, before, snoozed=1, throttled=1), timeout=30)

    rows = await system.admin_fetch("SELECT deal_id, count(*) AS n FROM alerts WHERE tenant_id = $1 GROUP BY 1",
                                    tenant.tenant_id)
    assert {r["deal_id"]: r["n"] for r in rows} == {"D-snoozed": 1, "D-again": 2, "D-throttled": 1}


async def test_three_rises_of_10_within_a_week_raise_one_risk_jump_measured_from_the_weeks_lowest_score(
        system: RunningSystem) -> None:
    """40 -> 50 -> 60 over five days, as the scorer stores and publishes them: the second step is +10 over the
    previous score but +20 over the week's lowest, and only it raises a risk jump."""
    tenant = await system.new_tenant("jump")
    now = utcnow()
    steps = [(40, now - timedelta(days=5)), (50, now - timedelta(days=3)), (60, now)]
    scores = [_rising_score(tenant, "D-creep", risk, at, steps[n - 1] if n else None)
              for n, (risk, at) in enumerate(steps)]
    for score in scores:  # the scorer commits a score before it publishes it
        await _store_score(system, score)
    await publish_scores(system, scores[1:])
    [alert] = await poll_until(lambda: _alerts_of(system, tenant, "D-creep"), timeout=30)
    payload = json.loads(alert["payload"])
    assert payload["alert_type"] == "risk_jump"
    assert payload["source_event_id"] == scores[2].id
    assert "risk rose from 40 to 60 (+20) in 5 days" in payload["summary"]
    await poll_until(lambda: _published(system, tenant, alert["alert_id"]), timeout=30)  # the batch is done
    assert len(await system.admin_fetch("SELECT 1 FROM alerts WHERE tenant_id = $1", tenant.tenant_id)) == 1


async def test_slack_buttons_need_slacks_signature_and_a_false_alarm_lowers_precision(
        system: RunningSystem, slack: SlackFake) -> None:
    tenant = await tenant_with_team(system, "buttons")
    await configure_channels(system, tenant, channels(slack, None, webhook=tenant.tenant_id, dm=False))
    await publish_scores(system, [critical_score(tenant, "D-1", OWNER.user_id)])
    [alert] = await poll_until(lambda: _alerts_of(system, tenant, "D-1"), timeout=30)
    blocks = json.loads(alert["payload"])["slack_blocks"]
    button = next(e for e in blocks[-1]["elements"] if e["action_id"] == "false_alarm")
    body = urlencode({"payload": json.dumps({"type": "block_actions", "trigger_id": "T-1", "user": {"id": "U1"},
                                             "actions": [{"action_id": "false_alarm", "value": button["value"]}]})})
    url = f"{system.url('gateway')}/v1/slack/interactions/{tenant.tenant_id}"
    async with httpx.AsyncClient(timeout=10) as client:
        forged = await client.post(url, content=body, headers=_signed(body, "not-the-secret"))
        stale = await client.post(url, content=body, headers=_signed(body, "test-signing-secret", age_s=600))
        signed = await client.post(url, content=body, headers=_signed(body, "test-signing-secret"))
        precision = await client.get(f"{system.url('gateway')}/v1/alerts/precision",
                                     headers={"authorization": f"Bearer {system.token(tenant)}"})
    assert (forged.status_code, stale.status_code, signed.status_code) == (401, 401, 200)
    assert signed.json()["text"] == "false_alarm recorded"
    assert precision.json() == [{"alert_type": "entered_critical", "alerts": 1, "false_alarms": 1, "precision": 0.0}]


async def test_kill_9_of_alerts_mid_delivery_loses_and_doubles_nothing(system: RunningSystem,
                                                                      slack: SlackFake) -> None:
    tenant = await tenant_with_team(system, "alertcrash")
    path = f"/webhook/{tenant.tenant_id}"
    await configure_channels(system, tenant, channels(slack, None, webhook=tenant.tenant_id, dm=False))
    deals = 8  # one message a second to the channel: about 8 s of delivering
    await publish_scores(system, [critical_score(tenant, f"D-{n}", OWNER.user_id) for n in range(deals)])

    async def some_but_not_all() -> bool:
        sent = len(slack.delivered(path))
        assert sent < deals, "all were sent before the kill: the test would prove nothing"
        return sent >= 2

    await poll_until(some_but_not_all, timeout=60, interval=0.05)
    system.supervisor.processes["alerts"].send_signal(signal.SIGKILL)
    system.supervisor.processes["alerts"].wait(timeout=10)
    assert system.supervisor.restart_exited() == [("alerts", -signal.SIGKILL)]
    system.supervisor.wait_ready(["alerts"], timeout=60)

    rows = await poll_until(lambda: settled(system, tenant, deals), timeout=90, interval=0.5)
    assert Counter(row["status"] for row in rows) == {"sent": deals}
    received = Counter(post.delivery_id for post in slack.delivered(path))
    assert received == {row["delivery_id"]: 1 for row in rows}


def _signed(body: str, secret: str, age_s: int = 0) -> dict[str, str]:
    timestamp = str(int(time.time()) - age_s)
    return {"content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": timestamp,
            "x-slack-signature": SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)}


async def _alerts_of(system: RunningSystem, tenant: Tenant, deal_id: str, at_least: int = 1) -> list[Any] | None:
    rows = await system.admin_fetch("SELECT alert_id, payload FROM alerts WHERE tenant_id = $1 AND deal_id = $2",
                                    tenant.tenant_id, deal_id)
    return rows if len(rows) >= at_least else None


async def _published(system: RunningSystem, tenant: Tenant, alert_id: str) -> bool:
    rows = await system.admin_fetch("SELECT 1 FROM alerts WHERE tenant_id = $1 AND alert_id = $2 "
                                    "AND published_at IS NOT NULL", tenant.tenant_id, alert_id)
    return bool(rows)


def _rising_score(tenant: Tenant, deal_id: str, risk: int, at: datetime,
                  previous: tuple[int, datetime] | None) -> DealScored:
    since = None if previous is None else ScoreDelta(previous_risk_score=previous[0], previous_scored_at=previous[1],
                                                     delta=risk - previous[0], changes=[])
    deal = events.deal(tenant.tenant_id, deal_id, name="Creeping Co", amount=20_000, owner_id=OWNER.user_id)
    data = events.scored_data(deal, risk_score=risk, scored_at=at, since_previous=since,
                              previous_category=None if previous is None else risk_category(previous[0]),
                              source_event_id=f"crm-{deal_id}-{risk}")
    return events.scored_event(data)


async def _store_score(system: RunningSystem, score: DealScored) -> None:
    """The score's history row, as the scorer writes it before publishing."""
    data = score.data
    await system.admin_fetch(
        "INSERT INTO risk_scores (tenant_id, source_event_id, deal_id, risk_score, risk_category, win_probability, "
        "model_version, features, payload, scored_at) VALUES ($1, $2, $3, $4, $5, $6, $7, '{}', $8::jsonb, $9)",
        score.tenantid, data.source_event_id, score.dealid, data.risk_score, data.risk_category.value,
        data.win_probability, data.model_version, json.dumps(data.model_dump(mode="json")), data.scored_at)


async def _decisions(system: RunningSystem) -> dict[str, float]:
    """The alerts service's snoozed and throttled counters, summed over alert types."""
    return {name: sum(s.value for s in await system.metric_samples("alerts", f"dealpulse_alerts_{name}_total"))
            for name in ("snoozed", "throttled")}


async def _decided(system: RunningSystem, before: dict[str, float], **more: int) -> bool:
    now = await _decisions(system)
    return all(now[name] >= before[name] + n for name, n in more.items())


async def _scored_deal(system: RunningSystem, tenant: Tenant, deal_id: str, risk: int, amount: float,
                       currency: str, owner_id: str) -> None:
    """A deal's latest score in the read model, as the scorer writes it (a risk the digest's order can rest on,
    which a model's score cannot promise): a valid deal and feature vector, so a re-score can read it back."""
    category = risk_category(risk).value
    deal = {"tenant_id": tenant.tenant_id, "deal_id": deal_id, "name": None, "currency": currency, "amount": amount,
            "owner_id": owner_id}
    payload = {"deal": deal, "factors": [{"label": "Stalled"}]}
    await system.admin_fetch(
        "INSERT INTO deal_risk (tenant_id, deal_id, source_event_id, risk_score, risk_category, win_probability, "
        "amount, owner_id, is_closed, features, payload, source_modified_at, scored_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, false, $9, $10::jsonb, now(), now())",
        tenant.tenant_id, deal_id, f"e-{deal_id}", risk, category, (100 - risk) / 100, amount, owner_id,
        [0.0] * N_FEATURES, json.dumps(payload))
