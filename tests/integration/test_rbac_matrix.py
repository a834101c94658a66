"""The RBAC matrix: rep / manager / admin × a deal of their own, of their team, of another team and of another
tenant, over REST and the WebSocket.

One world per test: tenant A, where mgr-mid (a manager) reports to mgr-top and the reps rep-a and rep-a2 report
to mgr-mid, while rep-b reports to mgr-other; and tenant B, whose own rep-a (the same user id) owns D-x and reports
to B's mgr-top. A manager's team is everyone below them, directly or not.
"""

from __future__ import annotations

from typing import Any

import pytest

from dealpulse_common.topics import DEAL_SCORED
from tests import events
from tests.support import Person, RunningSystem, StreamClient, Tenant, add_users, seed_deal

CALLERS = {"rep": "rep-a", "manager": "mgr-top", "admin": "adm"}
OWNERS = {"D-adm": "adm", "D-top": "mgr-top", "D-a": "rep-a", "D-a2": "rep-a2", "D-b": "rep-b"}  # tenant A's deals
OTHER_TENANT_DEAL = "D-x"

# What GET /v1/deals/{id} answers; 200 also means the deal is listed (/v1/deals, /v1/deals/high-risk).
MATRIX = [
    # caller      own              team            other team       other tenant
    ("rep",      ("D-a", 200),    ("D-a2", 403),  ("D-b", 403),    (OTHER_TENANT_DEAL, 404)),  # team: a teammate's
    ("manager",  ("D-top", 200),  ("D-a", 200),   ("D-b", 403),    (OTHER_TENANT_DEAL, 404)),  # rep-a: indirect
    ("admin",    ("D-adm", 200),  ("D-a", 200),   ("D-b", 200),    (OTHER_TENANT_DEAL, 404)),
]
RELATIONS = ("own", "team", "other team", "other tenant")
CELLS = [(caller, relation, deal_id, status)
         for caller, *cells in MATRIX for relation, (deal_id, status) in zip(RELATIONS, cells, strict=True)]

# Every deal of tenant A each caller's live stream shows (never tenant B's).
STREAMED = {"rep": {"D-a"}, "manager": {"D-top", "D-a", "D-a2"}, "admin": set(OWNERS)}
# The owners each caller's analytics cover (None: the whole tenant).
SCOPES = {"rep": ["rep-a"], "manager": ["mgr-mid", "mgr-top", "rep-a", "rep-a2"], "admin": None}


async def _world(system: RunningSystem) -> tuple[Tenant, Tenant]:
    tenant_a, tenant_b = await system.new_tenant("rbaca"), await system.new_tenant("rbacb")
    await add_users(system, tenant_a, Person("adm", role="admin"), Person("mgr-top", role="manager"),
                    Person("mgr-mid", role="manager", manager_id="mgr-top"), Person("rep-a", manager_id="mgr-mid"),
                    Person("rep-a2", manager_id="mgr-mid"), Person("mgr-other", role="manager"),
                    Person("rep-b", manager_id="mgr-other"))
    await add_users(system, tenant_b, Person("mgr-top", role="manager"), Person("rep-a", manager_id="mgr-top"))
    for deal_id, owner in OWNERS.items():
        await seed_deal(system, tenant_a, deal_id, owner=owner, risk=80)
    await seed_deal(system, tenant_b, OTHER_TENANT_DEAL, owner="rep-a", risk=80)
    return tenant_a, tenant_b


@pytest.mark.parametrize(("caller", "relation", "deal_id", "status"), CELLS,
                         ids=[f"{caller}-{relation.replace(' ', '-')}" for caller, relation, _, _ in CELLS])
async def test_rest(system: RunningSystem, caller: str, relation: str, deal_id: str, status: int) -> None:
    tenant_a, _ = await _world(system)

    async def get(path: str, **params: str) -> tuple[int, Any]:
        response = await system.gateway("GET", path, tenant_a, caller, CALLERS[caller], params=params)
        return response.status_code, response.json()

    for path in (f"/v1/deals/{deal_id}", f"/v1/deals/{deal_id}/history"):
        code, body = await get(path)
        assert code == status, (path, body)
        if status != 200:
            assert body["status"] == status and body["detail"], "answered as a problem"
    for listing in ("/v1/deals", "/v1/deals/high-risk"):
        code, body = await get(listing)
        assert code == 200
        assert (deal_id in {d["deal_id"] for d in body["deals"]}) is (status == 200), listing


@pytest.mark.parametrize("caller", list(CALLERS))
async def test_analytics_cover_the_callers_scope(system: RunningSystem, caller: str) -> None:
    tenant_a, _ = await _world(system)
    metrics = await system.gateway("GET", "/v1/pipeline/metrics", tenant_a, caller, CALLERS[caller])
    assert metrics.status_code == 200, metrics.text
    assert metrics.json()["scope"]["owners"] == SCOPES[caller]
    assert metrics.json()["pipeline"]["open_deals"] == len(STREAMED[caller])
    reps = await system.gateway("GET", "/v1/reps", tenant_a, caller, CALLERS[caller])
    assert {row["owner_id"] for row in reps.json()["reps"]} == {OWNERS[d] for d in STREAMED[caller]}
    outside = await system.gateway("GET", "/v1/pipeline/metrics", tenant_a, caller, CALLERS[caller],
                                   params={"owner": "rep-b"})
    assert outside.status_code == (200 if caller == "admin" else 403)


@pytest.mark.parametrize("caller", list(CALLERS))
async def test_websocket(system: RunningSystem, caller: str) -> None:
    tenant_a, tenant_b = await _world(system)
    a, b = tenant_a.tenant_id, tenant_b.tenant_id
    stream = await StreamClient.connect(system.ws_url(), system.token(tenant_a, caller, CALLERS[caller]))
    observer = await StreamClient.connect(system.ws_url(), system.token(tenant_a, "admin", "adm"))
    try:
        scores = [events.scored(a, deal_id, owner) for deal_id, owner in OWNERS.items()]
        await system.publish(DEAL_SCORED, [*scores, events.scored(b, OTHER_TENANT_DEAL, "rep-a")])
        # Once tenant A's admin saw every score, they are all in the tenant's stream; a marker on the caller's own
        # deal comes after them, so when it arrives the caller's socket has passed everything before it.
        pending = {score.id for score in scores}
        while pending:
            pending.discard((await observer.next_message())["event"]["id"])
        own_deal = next(deal_id for deal_id, owner in OWNERS.items() if owner == CALLERS[caller])
        marker = events.scored(a, own_deal, CALLERS[caller])
        await system.publish(DEAL_SCORED, [marker])
        seen = []
        while (message := await stream.next_message())["event"]["id"] != marker.id:
            seen.append(message["event"])
        assert {event["dealid"] for event in seen} == STREAMED[caller]
        assert all(event["tenantid"] == a for event in seen), "never another tenant's"
    finally:
        await stream.close()
        await observer.close()
