"""Every way a webhook can be refused gets a clear answer, and nothing refused is stored."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import orjson
import pytest

from dealpulse_cli.webhook_client import signature as sign
from tests.support import RunningSystem, Tenant, deal_change, poll_until

VALID = {"deal_id": "D-1", "modified_at": "2026-11-20T10:00:00Z", "amount": 1000}


async def _stored_events(system: RunningSystem, tenant_id: str) -> int:
    rows = await system.admin_fetch("SELECT count(*) AS n FROM deal_events WHERE tenant_id = $1", tenant_id)
    return int(rows[0]["n"])


async def test_bad_signature_is_401_and_stores_nothing(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    response = await system.send_change(tenant, VALID, signature=sign("not-the-secret", b"{}"))
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "signature" in response.json()["detail"]
    assert await _stored_events(system, tenant.tenant_id) == 0


async def test_replayed_old_timestamp_is_401(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    body = orjson.dumps(VALID)
    old = sign(tenant.webhook_secret, body, timestamp=int(time.time()) - 301)
    response = await system.send_change(tenant, VALID, signature=old)
    assert response.status_code == 401
    assert "window" in response.json()["detail"]


async def test_unknown_tenant_is_401(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    tenant.tenant_id = "nobody-" + tenant.tenant_id
    assert (await system.send_change(tenant, VALID)).status_code == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({**VALID, "amount": 0}, "amount"),
        ({**VALID, "amount": -5}, "amount"),
        ({**VALID, "amount": 1e15}, "amount"),
        ({"modified_at": "2026-11-20T10:00:00Z", "amount": 5}, "deal_id"),
        ({**VALID, "expected_close_date": "next tuesday"}, "expected_close_date"),
        ({**VALID, "modified_at": "2026-11-20T10:00:00"}, "modified_at"),
        ({**VALID, "qualification": {"champion": {"score": 7}}}, "qualification.champion.score"),
        ({**VALID, "amonut": 5}, "amonut"),
        # Values no store or consumer could take: refused here rather than crashing something downstream.
        ({**VALID, "name": "Acme\u0000"}, "name"),
        ({**VALID, "event_id": "evt\u0000"}, "event_id"),
        ({**VALID, "custom": {"k\u0000": 1}}, "custom"),
        ({**VALID, "expected_close_date": "9999-12-31"}, "expected_close_date"),
        ({**VALID, "modified_at": "0001-01-01T00:00:00-00:30"}, "modified_at"),
        ({**VALID, "qualification": {"champion": {"score": 2, "note": "\u0000"}}}, "qualification.champion.note"),
        # History the CRM sends must be history: a count is a non-negative number, and nothing else is taken.
        ({**VALID, "history": {"close_date_push_count": -1}}, "history.close_date_push_count"),
        ({**VALID, "history": {"activity_count_30d": "lots"}}, "history.activity_count_30d"),
        ({**VALID, "history": {"stage_entered_at": "2026-11-20T10:00:00"}}, "history.stage_entered_at"),
        ({**VALID, "history": {"days_in_stage": 4}}, "history.days_in_stage"),
    ],
)
async def test_invalid_change_is_422_naming_the_field(system: RunningSystem, change: dict, field: str) -> None:
    tenant = await system.new_tenant()
    response = await system.send_change(tenant, change)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]]
    assert await _stored_events(system, tenant.tenant_id) == 0


async def _post_generic(system: RunningSystem, tenant: Tenant, body: bytes, content_type: str | None,
                        headers: dict[str, str] | None = None) -> httpx.Response:
    """A signed delivery to the generic webhook, with the given Content-Type (none when None)."""
    sent = {"X-DealPulse-Tenant": tenant.tenant_id, "X-DealPulse-Signature": sign(tenant.webhook_secret, body),
            **({"Content-Type": content_type} if content_type else {}), **(headers or {})}
    async with httpx.AsyncClient(timeout=10.0) as client:
        return await client.post(f"{system.url('ingest')}/v1/webhooks/generic", content=body, headers=sent)


async def test_malformed_json_is_400(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    response = await _post_generic(system, tenant, b'{"deal_id": "D-1", ', "application/json")
    assert response.status_code == 400
    assert response.json()["title"] == "Bad request"


async def test_a_body_that_is_not_json_by_its_content_type_is_415_and_dead_lettered(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    form = b"deal_id=D-1&modified_at=2026-11-20T10%3A00%3A00Z&amount=1000"
    for content_type in ("application/x-www-form-urlencoded", "text/plain", None):
        response = await _post_generic(system, tenant, form, content_type)
        assert response.status_code == 415, (content_type, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["title"] == "Unsupported media type" and "application/json" in problem["detail"]
    # A JSON body labelled as a form is refused too: the content type decides, not a guess from the bytes.
    json_as_form = await _post_generic(system, tenant, orjson.dumps(VALID), "application/x-www-form-urlencoded")
    assert json_as_form.status_code == 415
    assert await _stored_events(system, tenant.tenant_id) == 0
    letters = await system.dead_letters(tenant.tenant_id, "ingest", expected=4)
    assert all("generic webhook rejected: content type" in letter.data.error for letter in letters)


async def test_every_refusal_of_the_generic_webhook_is_dead_lettered_with_its_reason(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    await system.send_change(tenant, VALID, signature=sign("not-the-secret", b"{}"))
    await _post_generic(system, tenant, b"{" + b" " * 1_048_576 + b"}", "application/json")
    await _post_generic(system, tenant, b"{not json", "application/json")
    await system.send_change(tenant, {**VALID, "amount": -5})
    letters = await system.dead_letters(tenant.tenant_id, "ingest", expected=4)
    errors = " | ".join(letter.data.error for letter in letters)
    for reason in ("signature does not match", "body exceeds 1048576 bytes", "body is not valid JSON",
                   "invalid field(s): amount"):
        assert f"generic webhook rejected: {reason}" in errors, errors
    assert all(letter.data.original_topic == "webhook:generic" for letter in letters)


async def test_a_missing_or_malformed_tenant_header_is_422_naming_it(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    for value in (None, "Not A Tenant"):
        headers = {"X-DealPulse-Tenant": value} if value else {}
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.post(f"{system.url('ingest')}/v1/webhooks/generic", content=orjson.dumps(VALID),
                                         headers={"Content-Type": "application/json", **headers,
                                                  "X-DealPulse-Signature": sign(tenant.webhook_secret, b"{}")})
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "header.x-dealpulse-tenant"


async def test_broker_unavailable_is_503_with_retry_after_then_recovers(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    broker = system.stack.broker_pid()
    # Freeze, do not restart: a restarted embedded broker forgets every topic and offset.
    os.kill(broker, signal.SIGSTOP)
    try:
        response = await system.send_change(tenant, deal_change("D-frozen", "2026-11-20T10:00:00Z", amount=500))
    finally:
        os.kill(broker, signal.SIGCONT)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert await _stored_events(system, tenant.tenant_id) == 0, "a refused change was kept"

    async def accepted():
        retry = await system.send_change(tenant, deal_change("D-frozen", "2026-11-20T10:00:00Z", amount=500))
        return retry if retry.status_code == 202 else None

    await poll_until(accepted, timeout=30, interval=1.0)
    await poll_until(lambda: system.admin_fetch(
        "SELECT 1 FROM risk_scores WHERE tenant_id = $1 AND deal_id = 'D-frozen'", tenant.tenant_id), timeout=30)


async def test_changes_stamped_with_the_same_instant_are_all_applied(system: RunningSystem) -> None:
    """CRMs send several property changes of one deal with one timestamp, as separate deliveries."""
    tenant = await system.new_tenant()
    same_instant = "2026-11-20T10:00:00.123Z"
    first = await system.send_change(tenant, deal_change("D-same", same_instant, amount=1_000, event_id="p-1"))
    second = await system.send_change(tenant, deal_change("D-same", same_instant, stage="Proposal", event_id="p-2"))
    assert (first.status_code, second.status_code) == (202, 202)
    [row] = await system.admin_fetch("SELECT snapshot FROM deals WHERE tenant_id = $1", tenant.tenant_id)
    snapshot = orjson.loads(row["snapshot"])
    assert snapshot["amount"] == 1_000 and snapshot["stage"] == "proposal"
    repeat = await system.send_change(tenant, deal_change("D-same", same_instant, stage="Proposal", event_id="p-2"))
    assert repeat.json()["status"] == "duplicate"


async def test_concurrent_deliveries_of_one_tenant_each_get_their_own_answer(system: RunningSystem) -> None:
    """Webhooks of a tenant arriving together are stored in groups (ingest's group commit); each is still answered
    for itself, and a delivery repeated within the same group is a duplicate."""
    tenant = await system.new_tenant()
    changes = [deal_change(f"D-{n}", "2026-11-20T10:00:00Z", amount=1_000 + n, event_id=f"c-{n}") for n in range(30)]
    repeated = deal_change("D-twice", "2026-11-20T10:00:00Z", amount=9, event_id="twice")
    responses = await asyncio.gather(*(system.send_change(tenant, change) for change in [*changes, repeated, repeated]))
    assert [r.status_code for r in responses[:30]] == [202] * 30
    assert [r.json()["event_id"] for r in responses[:30]] == [f"c-{n}" for n in range(30)]
    assert sorted(r.json()["status"] for r in responses[30:]) == ["accepted", "duplicate"]
    assert await _stored_events(system, tenant.tenant_id) == 31
    rows = await system.admin_fetch("SELECT deal_id, snapshot FROM deals WHERE tenant_id = $1", tenant.tenant_id)
    assert {row["deal_id"]: orjson.loads(row["snapshot"])["amount"] for row in rows} == {
        **{f"D-{n}": 1_000 + n for n in range(30)}, "D-twice": 9}
    await poll_until(lambda: system.admin_fetch(
        "SELECT 1 FROM risk_scores WHERE tenant_id = $1 GROUP BY tenant_id HAVING count(DISTINCT deal_id) = 31",
        tenant.tenant_id), timeout=30)


async def test_a_broker_outage_refuses_every_delivery_of_a_group_and_stores_none(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    os.kill(system.stack.broker_pid(), signal.SIGSTOP)
    try:
        responses = await asyncio.gather(*(system.send_change(
            tenant, deal_change(f"D-{n}", "2026-11-20T10:00:00Z", amount=500)) for n in range(6)))
    finally:
        os.kill(system.stack.broker_pid(), signal.SIGCONT)
    assert [r.status_code for r in responses] == [503] * 6
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in responses)
    assert await _stored_events(system, tenant.tenant_id) == 0, "a refused change was kept"
