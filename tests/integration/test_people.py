"""``dealpulse user add | list | disable | enable`` against the running stack: a team built with the commands decides
what a manager sees, a disabled user's tokens stop working at once, over REST (gateway and ingest) and on an open
WebSocket, and an enabled user gets in again with a new token only. Every refusal of the commands says why and
exits 1."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from dealpulse_common.topics import DEAL_SCORED
from tests import events
from tests.support import Person, RunningSystem, StreamClient, add_users, poll_until, seed_deal


async def test_a_team_built_with_the_commands_is_what_its_manager_sees(system: RunningSystem) -> None:
    tenant = await system.new_tenant("ppl")
    t = tenant.tenant_id
    added = [await system.cli("user", "add", "--tenant", t, "--user", "mgr-1", "--role", "manager", "--name", "Mia"),
             await system.cli("user", "add", "--tenant", t, "--user", "rep-1", "--role", "rep", "--manager", "mgr-1",
                              "--email", "rep-1@example.test", "--timezone", "Europe/Berlin")]
    assert [r.returncode for r in added] == [0, 0], [r.stderr for r in added]
    assert added[1].stdout.strip() == f"added rep-1 (rep, reporting to mgr-1) to {t}"

    listed = await system.cli("user", "list", "--tenant", t, "--json")
    assert listed.returncode == 0, listed.stderr
    people = {p["user_id"]: p for p in map(json.loads, listed.stdout.splitlines())}
    assert people["rep-1"]["manager_id"] == "mgr-1" and people["rep-1"]["timezone"] == "Europe/Berlin"
    assert people["mgr-1"]["role"] == "manager" and people["mgr-1"]["disabled_at"] is None

    await seed_deal(system, tenant, "D-team", owner="rep-1")
    await seed_deal(system, tenant, "D-else", owner="rep-9")
    assert (await system.gateway("GET", "/v1/deals/D-team", tenant, "manager", "mgr-1")).status_code == 200
    assert (await system.gateway("GET", "/v1/deals/D-else", tenant, "manager", "mgr-1")).status_code == 403


async def test_the_commands_refuse_what_cannot_be_done(system: RunningSystem) -> None:
    tenant = await system.new_tenant("pplno")
    t = tenant.tenant_id
    await add_users(system, tenant, Person("rep-1"))
    refused = await asyncio.gather(
        system.cli("user", "add", "--tenant", t, "--user", "rep-2", "--role", "rep", "--manager", "ghost"),
        system.cli("user", "add", "--tenant", t, "--user", "rep-2", "--role", "rep", "--manager", "rep-1"),
        system.cli("user", "add", "--tenant", t, "--user", "rep-1", "--role", "rep"),
        system.cli("user", "add", "--tenant", t, "--user", "rep-3", "--role", "rep", "--timezone", "Mars/Base"),
        system.cli("user", "add", "--tenant", "no-such-tenant", "--user", "rep-4", "--role", "rep"),
        system.cli("user", "disable", "--tenant", t, "--user", "ghost"),
        system.cli("user", "enable", "--tenant", t, "--user", "ghost"),
        system.cli("user", "enable", "--tenant", t, "--user", "rep-1"),
    )
    reasons = ["no user 'ghost'", "'rep-1' is a rep", "already has a user 'rep-1'", "unknown time zone",
               "no tenant 'no-such-tenant'", "no user 'ghost'", "no user 'ghost'", "'rep-1' of tenant"]
    for result, reason in zip(refused, reasons, strict=True):
        assert result.returncode == 1 and reason in result.stderr, (result.args, result.stderr)
    listed = await system.cli("user", "list", "--tenant", t)
    assert listed.stdout.splitlines()[1:] == ["rep-1\trep\t-\tRep-1\t-\tactive"], "nothing was added"


async def test_a_disabled_users_tokens_stop_working_at_once(system: RunningSystem) -> None:
    tenant = await system.new_tenant("ppldis")
    await add_users(system, tenant, Person("rep-1"), Person("adm", role="admin"))
    await seed_deal(system, tenant, "D-1", owner="rep-1")
    token = system.token(tenant, "rep", "rep-1")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{system.url('gateway')}/v1/deals/D-1", headers=headers)).status_code == 200
        stream = await StreamClient.connect(system.ws_url(), token)
        try:
            live = events.scored(tenant.tenant_id, "D-1", "rep-1")
            await system.publish(DEAL_SCORED, [live])
            assert (await stream.next_message())["event"]["id"] == live.id, "the socket works before"

            disabled = await system.cli("user", "disable", "--tenant", tenant.tenant_id, "--user", "rep-1")
            assert disabled.returncode == 0, disabled.stderr
            started = time.monotonic()

            for url in (f"{system.url('gateway')}/v1/deals/D-1", f"{system.url('ingest')}/v1/imports/any-job"):
                refused = await client.get(url, headers=headers)
                assert refused.status_code == 401, url
                assert refused.json()["detail"] == "this user is disabled"
                assert refused.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
            with pytest.raises(ConnectionClosed) as closed:
                for _ in range(10):  # the score's verdict and alert may still come first
                    await stream.next_message(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
            assert time.monotonic() - started < 3, "an open socket is closed within about a second"
        finally:
            await stream.close()
        reconnect = await StreamClient.connect(system.ws_url(), token)
        with pytest.raises(ConnectionClosed) as again:
            await reconnect.next_message(timeout=5)
        assert again.value.rcvd is not None and again.value.rcvd.code == 4401
        admin = await client.get(f"{system.url('gateway')}/v1/deals/D-1", headers=system.auth(tenant))
        assert admin.status_code == 200, "the tenant's other users are not affected"

    listed = await system.cli("user", "list", "--tenant", tenant.tenant_id, "--json")
    states = {p["user_id"]: p["disabled_at"] for p in map(json.loads, listed.stdout.splitlines())}
    assert states["rep-1"] is not None and states["adm"] is None


async def test_an_enabled_user_gets_in_with_a_new_token_but_not_with_one_from_before(system: RunningSystem) -> None:
    tenant = await system.new_tenant("pplen")
    t = tenant.tenant_id
    await add_users(system, tenant, Person("rep-1"))
    await seed_deal(system, tenant, "D-1", owner="rep-1")
    old_token = system.token(tenant, "rep", "rep-1")
    disabled = await system.cli("user", "disable", "--tenant", t, "--user", "rep-1")
    assert disabled.returncode == 0, disabled.stderr
    # A token's iat counts whole seconds: enable in a later second than the old token's.
    issued_in = int(time.time())

    async def a_later_second() -> bool | None:
        return True if int(time.time()) > issued_in else None

    await poll_until(a_later_second, timeout=3, interval=0.05)

    enabled = await system.cli("user", "enable", "--tenant", t, "--user", "rep-1")
    assert enabled.returncode == 0, enabled.stderr
    assert enabled.stdout.startswith(f"enabled rep-1 of {t}: tokens issued from ")
    deal = f"{system.url('gateway')}/v1/deals/D-1"
    async with httpx.AsyncClient(timeout=10) as client:
        old = await client.get(deal, headers={"Authorization": f"Bearer {old_token}"})
        assert old.status_code == 401
        assert old.json()["detail"] == "this token was issued before the user was enabled again; sign in again"
        new_token = system.token(tenant, "rep", "rep-1")
        assert (await client.get(deal, headers={"Authorization": f"Bearer {new_token}"})).status_code == 200
    stale = await StreamClient.connect(system.ws_url(), old_token)
    with pytest.raises(ConnectionClosed) as closed:
        await stale.next_message(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    listed = await system.cli("user", "list", "--tenant", t, "--json")
    assert [json.loads(line)["disabled_at"] for line in listed.stdout.splitlines()] == [None]
    again = await system.cli("user", "disable", "--tenant", t, "--user", "rep-1")
    assert again.returncode == 0, again.stderr
    async with httpx.AsyncClient(timeout=10) as client:
        refused = await client.get(deal, headers={"Authorization": f"Bearer {new_token}"})
    assert refused.status_code == 401 and refused.json()["detail"] == "this user is disabled"
