"""CRM webhooks against the running system: Salesforce, HubSpot and Pipedrive deliveries are stored, scored,
deduplicated, ordered, and every refusal is answered in the CRM's terms and dead-lettered with its reason; the history
each CRM knows reaches the published deal as a training replay of the same changes builds it."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from dealpulse_common.deal import DealHistory
from dealpulse_common.history import DealReplay
from tests.support import RunningSystem, Tenant, hubspot_headers, poll_until

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crm"
ORG = "00D5g000004XyZ1EAK"
SOAP_ENV = "{http://schemas.xmlsoap.org/soap/envelope/}"


async def _configure(system: RunningSystem, tenant: Tenant, settings: dict[str, Any]) -> None:
    await system.admin_fetch(
        "INSERT INTO tenant_settings (tenant_id, settings) VALUES ($1, $2::jsonb) ON CONFLICT (tenant_id) DO UPDATE "
        "SET settings = tenant_settings.settings || EXCLUDED.settings RETURNING tenant_id",
        tenant.tenant_id, json.dumps(settings))


async def _post(system: RunningSystem, path: str, body: bytes, content_type: str,
                headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10.0) as client:
        return await client.post(f"{system.url('ingest')}{path}", content=body,
                                 headers={"Content-Type": content_type, **(headers or {})})


async def _deal(system: RunningSystem, tenant: Tenant, deal_id: str) -> Any:
    rows = await system.admin_fetch("SELECT snapshot, deleted_at FROM deals WHERE tenant_id = $1 AND deal_id = $2",
                                    tenant.tenant_id, deal_id)
    return {**json.loads(rows[0]["snapshot"]), "_deleted": rows[0]["deleted_at"] is not None} if rows else None


async def _scored(system: RunningSystem, tenant: Tenant, deal_id: str) -> None:
    await poll_until(lambda: system.admin_fetch("SELECT 1 FROM risk_scores WHERE tenant_id = $1 AND deal_id = $2",
                                                tenant.tenant_id, deal_id), timeout=30)


async def _events(system: RunningSystem, tenant: Tenant) -> int:
    rows = await system.admin_fetch("SELECT count(*) AS n FROM deal_events WHERE tenant_id = $1", tenant.tenant_id)
    return int(rows[0]["n"])


async def _published_history(system: RunningSystem, tenant: Tenant, deal_id: str, changes: int) -> DealHistory:
    """The history the deal's last published change carries, once every published change was checked field by
    field against ``DealReplay`` folding the canonical changes ingest stored for the deal up to it (what
    ``export-training`` replays)."""
    published = await system.deal_changes(tenant.tenant_id, deal_id, expected=changes)
    stored = await system.admin_fetch(
        "SELECT changes, source_modified_at FROM deal_events WHERE tenant_id = $1 AND deal_id = $2 "
        "AND outcome = 'applied' ORDER BY applied_seq", tenant.tenant_id, deal_id)
    assert len(published) == len(stored) == changes
    replay = DealReplay()
    for event, row in zip(published, stored, strict=True):
        replay.apply(json.loads(row["changes"]), row["source_modified_at"])
        replayed, live = replay.history(row["source_modified_at"]), event.data.deal.history
        for name in DealHistory.model_fields:
            assert getattr(live, name) == getattr(replayed, name), (name, live, replayed)
    return published[-1].data.deal.history


async def _stored_crm_history(system: RunningSystem, tenant: Tenant, deal_id: str) -> list[Any]:
    """The ``history`` object of each change ingest stored for the deal, in the order it applied them."""
    rows = await system.admin_fetch("SELECT changes FROM deal_events WHERE tenant_id = $1 AND deal_id = $2 "
                                    "AND outcome = 'applied' ORDER BY applied_seq", tenant.tenant_id, deal_id)
    return [json.loads(row["changes"]).get("history") for row in rows]


# --- Salesforce ---------------------------------------------------------------------------------------------


def _salesforce_body(open_id: str, won_id: str) -> bytes:
    body = (FIXTURES / "salesforce_opportunity_outbound.xml").read_bytes()
    notification_ids = uuid.uuid4().hex[:10].encode()
    return (body.replace(b"0065g00000XyZaBAAV", open_id.encode()).replace(b"0065g00000XyZbCAAV", won_id.encode())
            .replace(b"04l5g00000AbCd", b"04l" + notification_ids))


async def test_salesforce_outbound_message_is_acknowledged_stored_and_scored(system: RunningSystem) -> None:
    tenant = await system.new_tenant("sf")
    await _configure(system, tenant, {"salesforce": {"organization_id": ORG[:15],
                                                     "field_map": {"Region__c": "region"}}})
    body = _salesforce_body("006OPEN1", "006WON1")
    path = f"/v1/webhooks/salesforce?tenant={tenant.tenant_id}&token={tenant.webhook_secret}"
    response = await _post(system, path, body, "text/xml; charset=utf-8")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert b"<Ack>true</Ack>" in response.content
    open_deal = await _deal(system, tenant, "006OPEN1")
    assert open_deal["stage"] == "negotiation" and open_deal["crm_stage"] == "Negotiation/Review"
    assert open_deal["forecast_category"] == "best_case" and open_deal["region"] == "EMEA"
    assert open_deal["amount"] == 84000.0 and open_deal["custom"]["type"] == "Existing Customer - Upgrade"
    won = await _deal(system, tenant, "006WON1")
    assert won["is_closed"] is True and won["is_won"] is True
    await _scored(system, tenant, "006OPEN1")
    # Salesforce re-sends a message it thinks was not acknowledged: acknowledged again, stored once.
    events = await _events(system, tenant)
    again = await _post(system, path, body, "text/xml")
    assert again.status_code == 200 and b"<Ack>true</Ack>" in again.content
    assert await _events(system, tenant) == events


async def test_salesforce_history_reaches_the_deal_as_a_replay_builds_it(system: RunningSystem) -> None:
    tenant = await system.new_tenant("sf")
    await _configure(system, tenant, {"salesforce": {"organization_id": ORG}})
    path = f"/v1/webhooks/salesforce?tenant={tenant.tenant_id}&token={tenant.webhook_secret}"
    assert (await _post(system, path, _salesforce_body("006HIST", "006HISTWON"), "text/xml")).status_code == 200
    # First seen mid-life: what Salesforce knows is taken, what nobody knows stays unknown.
    first = await _published_history(system, tenant, "006HIST", changes=1)
    assert first.close_date_push_count == 3 and first.stage_entered_at == datetime(2026, 11, 4, 16, 20, tzinfo=UTC)
    assert first.amount_change_count is None and first.activity_count_30d is None
    assert await _stored_crm_history(system, tenant, "006HISTWON") == [None], "nothing sent: nothing known"
    # The next push comes with Salesforce's own count, which already includes it.
    pushed = (_salesforce_body("006HIST", "006HISTWON").replace(b"2026-11-20T14:03:27", b"2026-11-22T08:00:00")
              .replace(b"<sf:CloseDate>2026-12-15", b"<sf:CloseDate>2027-01-29")
              .replace(b"<sf:PushCount>3", b"<sf:PushCount>4"))
    assert (await _post(system, path, pushed, "text/xml")).status_code == 200
    assert (await _published_history(system, tenant, "006HIST", changes=2)).close_date_push_count == 4
    assert await _stored_crm_history(system, tenant, "006HIST") == [
        {"stage_entered_at": "2026-11-04T16:20:00Z", "close_date_push_count": n} for n in (3, 4)]


async def test_salesforce_refusals_are_soap_faults(system: RunningSystem) -> None:
    tenant = await system.new_tenant("sf")
    await _configure(system, tenant, {"salesforce": {"organization_id": "00D000000000OTHER"}})
    body = _salesforce_body("006X", "006Y")
    base = f"/v1/webhooks/salesforce?tenant={tenant.tenant_id}"
    cases = [(f"{base}&token={tenant.webhook_secret}", body, "not this tenant"),
             (f"{base}&token=wrong", body, "does not match"),
             (base, body, "missing token"),
             (f"{base}&token={tenant.webhook_secret}", b"<soapenv:Envelope", "not well-formed")]
    for path, payload, reason in cases:
        response = await _post(system, path, payload, "text/xml")
        assert response.status_code == 500
        assert b"<soapenv:Fault>" in response.content and reason.encode() in response.content, response.text
    assert await _events(system, tenant) == 0
    letters = await system.dead_letters(tenant.tenant_id, "ingest", expected=4)
    assert any("not this tenant" in letter.data.error for letter in letters)
    assert any(base64.b64decode(letter.data.original_value_b64) == body for letter in letters)


# --- HubSpot ------------------------------------------------------------------------------------------------



async def test_hubspot_batch_events_are_accepted_or_rejected_one_by_one(system: RunningSystem) -> None:
    tenant = await system.new_tenant("hs")
    await _configure(system, tenant, {"hubspot": {"stage_map": {"1034567": "Commit - Verbal"}}})
    body = (FIXTURES / "hubspot_deal_batch.json").read_bytes()
    path = f"/v1/webhooks/hubspot?tenant={tenant.tenant_id}"
    url = system.url("ingest") + path
    response = await _post(system, path, body, "application/json", hubspot_headers(tenant.webhook_secret, url, body))
    assert response.status_code == 200, response.text
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses == ["accepted"] * 6 + ["ignored", "accepted", "rejected", "accepted"]
    deal = await _deal(system, tenant, "18329450112")
    assert deal["name"] == "Umbrella Corp - Data Platform" and deal["amount"] == 45000.0
    assert deal["stage"] == "commit" and deal["crm_stage"] == "Commit - Verbal"
    assert (await _deal(system, tenant, "18329450199"))["_deleted"] is True
    await _scored(system, tenant, "18329450112")
    # HubSpot retries a batch it thinks failed (attemptNumber differs): nothing is applied twice.
    retry = orjson.dumps([{**e, "attemptNumber": 1} for e in orjson.loads(body)])
    again = await _post(system, path, retry, "application/json", hubspot_headers(tenant.webhook_secret, url, retry))
    assert [r["status"] for r in again.json()["results"]] == (
        ["duplicate"] * 6 + ["ignored", "duplicate", "rejected", "duplicate"])
    letters = await system.dead_letters(tenant.tenant_id, "ingest", expected=1)
    assert "amount is not a number" in letters[0].data.error
    assert b'"propertyValue":"a lot"' in base64.b64decode(letters[0].data.original_value_b64)


async def test_a_hubspot_merge_takes_the_merged_deals_out_of_the_pipeline(system: RunningSystem) -> None:
    tenant = await system.new_tenant("hs")
    path = f"/v1/webhooks/hubspot?tenant={tenant.tenant_id}"
    url = system.url("ingest") + path

    async def send(events: list[dict[str, Any]]) -> httpx.Response:
        body = orjson.dumps(events)
        return await _post(system, path, body, "application/json", hubspot_headers(tenant.webhook_secret, url, body))

    created = [{"subscriptionType": "deal.propertyChange", "objectId": deal_id, "occurredAt": 1763650000000 + i,
                "propertyName": "dealname", "propertyValue": f"Deal {deal_id}", "eventId": i}
               for i, deal_id in enumerate([18329450300, 18329450301, 18329450302, 18329450500, 18329450501])]
    assert (await send(created)).status_code == 200
    await _scored(system, tenant, "18329450302")

    merges = orjson.loads((FIXTURES / "hubspot_deal_merge.json").read_bytes())
    response = await send(merges)
    assert response.status_code == 200, response.text
    results = {(r["index"], r["deal_id"]): r["status"] for r in response.json()["results"]}
    assert results == {(0, "18329450300"): "accepted", (0, "18329450301"): "accepted",
                       (0, "18329450302"): "accepted", (1, "18329450501"): "accepted"}
    for gone in ("18329450300", "18329450301", "18329450302", "18329450501"):
        assert (await _deal(system, tenant, gone))["_deleted"] is True
    assert (await _deal(system, tenant, "18329450500"))["_deleted"] is False, "the surviving primary stays"


async def test_hubspot_history_reaches_the_deal_as_a_replay_builds_it(system: RunningSystem) -> None:
    tenant = await system.new_tenant("hs")
    await _configure(system, tenant, {"hubspot": {"stage_map": {"1034567": "Commit - Verbal"}}})
    path = f"/v1/webhooks/hubspot?tenant={tenant.tenant_id}"
    url = system.url("ingest") + path
    body = (FIXTURES / "hubspot_deal_history_batch.json").read_bytes()
    response = await _post(system, path, body, "application/json", hubspot_headers(tenant.webhook_secret, url, body))
    assert [r["status"] for r in response.json()["results"]] == ["accepted"] * 10 + ["ignored"], response.text
    assert await _stored_crm_history(system, tenant, "18329450600") == [
        {"stage_entered_at": "2025-11-16T13:33:20Z", "activity_count_30d": 2},
        {"stage_entered_at": "2025-11-21T13:33:20Z"}]
    history = await _published_history(system, tenant, "18329450600", changes=2)
    assert history.stage_entered_at == datetime(2025, 11, 21, 13, 33, 20, tzinfo=UTC)
    assert history.close_date_push_count == 0, "watched from its creation: no push is a known 0"
    # A deal first seen mid-life: the date it entered its stage is HubSpot's, not the moment DealPulse saw it.
    midlife = orjson.dumps([{"subscriptionType": "deal.propertyChange", "objectId": 18329450700, "eventId": i,
                             "occurredAt": 1763732000000, "propertyName": name, "propertyValue": value}
                            for i, (name, value) in enumerate([("dealstage", "1034567"),
                                                               ("hs_v2_date_entered_current_stage", "1763400000000")])])
    response = await _post(system, path, midlife, "application/json",
                           hubspot_headers(tenant.webhook_secret, url, midlife))
    assert [r["status"] for r in response.json()["results"]] == ["accepted"] * 2, response.text
    history = await _published_history(system, tenant, "18329450700", changes=1)
    assert history.stage_entered_at == datetime(2025, 11, 17, 17, 20, tzinfo=UTC)
    assert history.close_date_push_count is None and history.activity_count_30d is None


async def test_hubspot_signature_is_required(system: RunningSystem) -> None:
    tenant = await system.new_tenant("hs")
    body = (FIXTURES / "hubspot_deal_batch.json").read_bytes()
    path = f"/v1/webhooks/hubspot?tenant={tenant.tenant_id}"
    url = system.url("ingest") + path
    stale_ts = int(time.time() * 1000) - 301_000
    for headers, reason in [(hubspot_headers("not-the-secret", url, body), "does not match"),
                            (hubspot_headers(tenant.webhook_secret, url, body, stale_ts), "5-minute window"),
                            ({}, "missing")]:
        response = await _post(system, path, body, "application/json", headers)
        assert response.status_code == 401 and reason in response.json()["detail"]
    assert await _events(system, tenant) == 0


# --- Pipedrive ----------------------------------------------------------------------------------------------


def _pipedrive(name: str, deal_id: str, **meta: Any) -> bytes:
    event = orjson.loads((FIXTURES / name).read_bytes())
    event["meta"].update(entity_id=deal_id, id=uuid.uuid4().hex, **meta)
    for part in ("data", "previous"):
        if event[part] and "id" in event[part]:
            event[part]["id"] = int(deal_id)
    return orjson.dumps(event)


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_pipedrive_changes_are_stored_in_order_and_scored(system: RunningSystem) -> None:
    tenant = await system.new_tenant("pd")
    await _configure(system, tenant, {"pipedrive": {"stage_map": {"3": "Proposal Made"}}})
    path = f"/v1/webhooks/pipedrive?tenant={tenant.tenant_id}"
    auth = _basic(tenant.tenant_id, tenant.webhook_secret)
    change = _pipedrive("pipedrive_deal_change_v2.json", "4711")
    response = await _post(system, path, change, "application/json", auth)
    assert response.status_code == 202 and response.json()["status"] == "accepted", response.text
    deal = await _deal(system, tenant, "4711")
    # "Proposal Made" is no stage the normaliser knows: accepted, with the raw name kept and no canonical guess.
    assert deal["crm_stage"] == "Proposal Made" and "stage" not in deal and deal["amount"] == 120000.0
    await _scored(system, tenant, "4711")
    duplicate = await _post(system, path, change, "application/json", auth)
    assert duplicate.status_code == 200 and duplicate.json()["status"] == "duplicate"
    won = await _post(system, path, _pipedrive("pipedrive_deal_won_v2.json", "4711"), "application/json", auth)
    assert won.status_code == 202
    # The change from before the win arrives late (a new delivery id): stale, the won deal stays won.
    late = await _post(system, path, _pipedrive("pipedrive_deal_change_v2.json", "4711"), "application/json", auth)
    assert late.status_code == 200 and late.json()["status"] == "stale"
    deal = await _deal(system, tenant, "4711")
    assert deal["is_won"] is True and deal["stage"] == "closed_won"
    deleted = await _post(system, path, _pipedrive("pipedrive_deal_delete_v2.json", "4711"), "application/json", auth)
    assert deleted.status_code == 202 and (await _deal(system, tenant, "4711"))["_deleted"] is True
    # Taken out of the trash, it is back as it was when deleted (won).
    restored = await _post(system, path, _pipedrive("pipedrive_deal_restore_v2.json", "4711"), "application/json",
                           auth)
    assert restored.status_code == 202 and restored.json()["status"] == "accepted", restored.text
    deal = await _deal(system, tenant, "4711")
    assert deal["_deleted"] is False and deal["is_won"] is True


async def test_pipedrive_history_reaches_the_deal_as_a_replay_builds_it(system: RunningSystem) -> None:
    tenant = await system.new_tenant("pd")
    path = f"/v1/webhooks/pipedrive?tenant={tenant.tenant_id}"
    auth = _basic(tenant.tenant_id, tenant.webhook_secret)
    old = await _post(system, path, _pipedrive("pipedrive_deal_change_v2.json", "4721"), "application/json", auth)
    assert old.status_code == 202, old.text
    history = await _published_history(system, tenant, "4721", changes=1)
    assert history.stage_entered_at == datetime(2026, 11, 20, 10, 31, 16, tzinfo=UTC)
    # 49 days old: its 7 done activities since creation are no 30-day count, and nobody else knows one.
    assert history.activity_count_30d is None and history.close_date_push_count is None
    young = orjson.loads(_pipedrive("pipedrive_deal_change_v2.json", "4722"))
    young["data"]["add_time"] = "2026-10-25T09:00:00Z"
    response = await _post(system, path, orjson.dumps(young), "application/json", auth)
    assert response.status_code == 202, response.text
    assert (await _published_history(system, tenant, "4722", changes=1)).activity_count_30d == 7
    assert await _stored_crm_history(system, tenant, "4722") == [
        {"stage_entered_at": "2026-11-20T10:31:16Z", "activity_count_30d": 7}]


async def test_pipedrive_bad_input_gets_a_clear_answer_and_a_dead_letter(system: RunningSystem) -> None:
    tenant = await system.new_tenant("pd")
    path = f"/v1/webhooks/pipedrive?tenant={tenant.tenant_id}"
    auth = _basic(tenant.tenant_id, tenant.webhook_secret)
    change = _pipedrive("pipedrive_deal_change_v2.json", "4712")
    not_a_deal = orjson.dumps({"meta": {"action": "change", "entity": "person", "entity_id": "1"}, "data": {}})
    cases: list[tuple[str, bytes, str, dict[str, str], int, str]] = [
        (path, change, "application/json", _basic(tenant.tenant_id, "wrong"), 401, "do not match"),
        (path, change, "text/plain", auth, 415, "content type"),
        (path, b"{not json", "application/json", auth, 400, "not valid JSON"),
        (path, not_a_deal, "application/json", auth, 422, "not a deal event"),
        (path, b"{" + b" " * 1_048_576 + b"}", "application/json", auth, 413, "exceeds 1048576 bytes"),
        (f"/v1/webhooks/pipedrive?tenant=nobody-{uuid.uuid4().hex[:8]}", change, "application/json", auth, 401,
         "unknown tenant"),
        ("/v1/webhooks/pipedrive", change, "application/json", auth, 401, "tenant query parameter"),
    ]
    for url, body, content_type, headers, status, reason in cases:
        response = await _post(system, url, body, content_type, headers)
        assert response.status_code == status, (reason, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert reason in response.json()["detail"]
    assert await _events(system, tenant) == 0
    letters = await system.dead_letters(tenant.tenant_id, "ingest", expected=5)
    errors = " | ".join(letter.data.error for letter in letters)
    for reason in ("do not match", "content type", "not valid JSON", "not a deal event", "exceeds"):
        assert reason in errors
