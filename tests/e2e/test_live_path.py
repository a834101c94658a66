"""A deal change goes in by webhook and comes out scored on the WebSocket and over REST, exactly once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import RunningSystem, StreamClient, deal_change, poll_until

pytestmark = pytest.mark.e2e


def _score_for(deal_id: str):
    return lambda m: m.get("kind") == "score" and m["event"]["dealid"] == deal_id


async def test_webhook_to_websocket_to_rest_once_and_in_order(system: RunningSystem) -> None:
    # Given a tenant with a dashboard connected to the live stream
    tenant = await system.new_tenant()
    token = system.token(tenant)
    stream = await StreamClient.connect(system.ws_url(), token)
    try:
        # When the CRM sends a signed change
        change = deal_change("D-100", "2026-11-20T10:00:00Z", name="Acme renewal", account_name="Acme",
                             amount=48_000, stage="Proposal", forecast_category="Best Case",
                             industry="Software", region="EMEA", owner_id="rep-1",
                             expected_close_date="2026-12-20", last_activity_at="2026-11-19T09:00:00Z",
                             created_at="2026-11-19T12:00:00Z", event_id="crm-evt-1")
        response = await system.send_change(tenant, change)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "accepted"

        # Then the scored deal arrives on the WebSocket
        message = await stream.wait_for(_score_for("D-100"))
        scored = message["event"]["data"]
        assert message["event"]["tenantid"] == tenant.tenant_id
        assert 0 <= scored["risk_score"] <= 100
        assert scored["risk_score"] == round(100 * (1 - scored["win_probability"]))
        assert scored["risk_category"] in {"low", "medium", "high", "critical"}
        assert len(scored["factors"]) == 3
        assert scored["deal"]["stage"] == "proposal" and scored["deal"]["crm_stage"] == "Proposal"
        assert scored["since_previous"] is None
        assert message["event"]["traceparent"] == response.headers["traceparent"]

        # And the same score can be read back over REST
        async with httpx.AsyncClient(base_url=system.url("gateway"),
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            deal = (await client.get("/v1/deals/D-100")).json()
        assert deal["score"]["risk_score"] == scored["risk_score"]
        assert deal["deal"]["amount"] == 48_000

        # When the CRM re-sends the same event, it is acknowledged without a second score
        again = await system.send_change(tenant, change)
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        # ... and an older version of the deal is ignored
        older = deal_change("D-100", "2026-11-19T10:00:00Z", amount=1_000, event_id="crm-evt-0")
        stale = await system.send_change(tenant, older)
        assert stale.status_code == 200 and stale.json()["status"] == "stale"

        # A newer change is scored and says why the score moved since the previous one
        pushed = deal_change("D-100", "2026-11-21T10:00:00Z", expected_close_date="2027-02-15", event_id="crm-evt-2")
        assert (await system.send_change(tenant, pushed)).status_code == 202
        message = await stream.wait_for(_score_for("D-100"))
        rescored = message["event"]["data"]
        assert rescored["source_event_id"] == "crm-evt-2", "the duplicate or the stale change was scored"
        assert rescored["deal"]["amount"] == 48_000, "the stale change leaked into the snapshot"
        assert rescored["deal"]["history"]["close_date_push_count"] == 1
        assert rescored["since_previous"]["previous_risk_score"] == scored["risk_score"]
        assert rescored["since_previous"]["delta"] == rescored["risk_score"] - scored["risk_score"]
        later_scores = [m for m in await stream.collect(1.5) if m["kind"] == "score"]
        assert later_scores == [], "a second score was streamed for one change"
    finally:
        await stream.close()

    rows = await system.admin_fetch(
        "SELECT source_event_id FROM risk_scores WHERE tenant_id = $1 ORDER BY scored_at", tenant.tenant_id)
    assert [r["source_event_id"] for r in rows] == ["crm-evt-1", "crm-evt-2"]


async def test_verdict_and_alert_follow_a_critical_deal(system: RunningSystem) -> None:
    tenant = await system.new_tenant()
    stream = await StreamClient.connect(system.ws_url(), system.token(tenant))
    try:
        # A stalled, repeatedly pushed deal with no qualification: the model should call it critical.
        change = deal_change("D-crit", "2026-11-20T10:00:00Z", amount=250_000, stage="Prospecting",
                             created_at="2025-06-01T00:00:00Z", expected_close_date="2026-10-01",
                             last_activity_at="2026-05-01T00:00:00Z", lead_source="Partner")
        assert (await system.send_change(tenant, change)).status_code == 202
        scored = (await stream.wait_for(_score_for("D-crit")))["event"]["data"]
        # Verdict and alert services both react to the score, so either may reach the stream first.
        wanted = {"verdict", "alert"} if scored["risk_category"] == "critical" else {"verdict"}
        found: dict[str, dict[str, Any]] = {}
        while missing := wanted - found.keys():
            message = await stream.wait_for(lambda m, kinds=frozenset(missing): m.get("kind") in kinds)
            found[message["kind"]] = message
        verdict = found["verdict"]
        assert verdict["event"]["dealid"] == "D-crit"
        assert verdict["event"]["data"]["ai_forecast"] in {"pipeline", "best_case", "commit"}
        if "alert" in found:
            assert found["alert"]["event"]["data"]["alert_type"] == "entered_critical"
    finally:
        await stream.close()
    await poll_until(lambda: system.admin_fetch(
        "SELECT 1 FROM verdicts WHERE tenant_id = $1 AND deal_id = 'D-crit'", tenant.tenant_id))


async def test_the_stream_carries_a_verdict_only_when_it_changes(system: RunningSystem) -> None:
    tenant = await system.new_tenant("vchg")
    stream = await StreamClient.connect(system.ws_url(), system.token(tenant))
    stalled = {"amount": 250_000, "stage": "Prospecting", "created_at": "2025-06-01T00:00:00Z",
               "expected_close_date": "2026-10-01", "last_activity_at": "2026-05-01T00:00:00Z"}
    try:
        first = deal_change("D-v", "2026-11-20T10:00:00Z", name="Verdict Co", event_id="v-1", **stalled)
        assert (await system.send_change(tenant, first)).status_code == 202
        await stream.wait_for(lambda m: m.get("kind") == "verdict" and m["event"]["dealid"] == "D-v")
        # A renamed deal: a new score and verdict, the same judgement; then the rep calls it Commit, which the
        # deal's (absent) qualification does not admit: a new judgement.
        renamed = deal_change("D-v", "2026-11-20T11:00:00Z", name="Verdict Co (renamed)", event_id="v-2")
        committed = deal_change("D-v", "2026-11-20T12:00:00Z", forecast_category="Commit", event_id="v-3")
        for change in (renamed, committed):
            assert (await system.send_change(tenant, change)).status_code == 202
        # One deal, one partition: the committed verdict arrives after anything the rename streamed.
        seen: list[dict[str, Any]] = []

        def committed_verdict(message: dict[str, Any]) -> bool:
            seen.append(message)
            return message.get("kind") == "verdict" and message["event"]["data"]["rep_forecast"] == "commit"
        changed = await stream.wait_for(committed_verdict)
        assert changed["event"]["data"]["commit_admission"] != "not_applicable"
        assert changed["event"]["data"]["changed"] is True
        assert [m for m in seen if m.get("kind") == "verdict"] == [changed], "an unchanged verdict was streamed"
    finally:
        await stream.close()
    stored = await system.admin_fetch("SELECT payload->>'changed' AS changed FROM verdicts WHERE tenant_id = $1 "
                                      "ORDER BY decided_at", tenant.tenant_id)
    assert [row["changed"] for row in stored] == ["true", "false", "true"]


@pytest.mark.parametrize(("currency", "amount"), [("JPY", 12_000_000), ("EUR", 15_000_000)])
async def test_a_large_deal_in_its_own_currency_is_accepted_and_scored(
        system: RunningSystem, currency: str, amount: int) -> None:
    # Given a real deal whose amount in its own currency is beyond ten million
    tenant = await system.new_tenant("big")
    change = deal_change("D-big", "2026-11-20T10:00:00Z", name="Tokyo rollout", amount=amount, currency=currency,
                         stage="Negotiation", owner_id="rep-1", expected_close_date="2026-12-20")
    # When the CRM sends it, it is accepted
    response = await system.send_change(tenant, change)
    assert response.status_code == 202, response.text

    # Then it is scored, and read back with its own id, amount and currency
    async with httpx.AsyncClient(base_url=system.url("gateway"),
                                 headers={"Authorization": f"Bearer {system.token(tenant)}"}) as client:
        async def scored() -> dict[str, Any] | None:
            body: dict[str, Any] = (await client.get("/v1/deals/D-big")).json()
            return body if body.get("score") else None

        deal = await poll_until(scored, timeout=30)
    assert deal["deal"]["deal_id"] == "D-big"
    assert (deal["deal"]["amount"], deal["deal"]["currency"]) == (amount, currency)
    assert 0 <= deal["score"]["risk_score"] <= 100
