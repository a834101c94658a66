"""What every request about one deal passes first: the deal exists in the caller's tenant and the caller may see
it (404 / 403 problems otherwise). Shared by the deal reads and the verdict overrides."""

from __future__ import annotations

import asyncpg
from fastapi import HTTPException

from dealpulse_common.auth import Principal
from dealpulse_gateway import store
from dealpulse_gateway.auth import owner_scope, visible_to
from dealpulse_gateway.query_params import storable

OUTSIDE_SCOPE = "this deal is outside what you may see (a rep: their own deals; a manager: their team's)"


async def visible_deal(conn: asyncpg.Connection, principal: Principal, deal_id: str) -> store.DealRecord:
    """The deal, or the 404/403 problem: absent from the tenant, or owned by someone outside the principal's
    scope (another rep's, another team's)."""
    if not storable(deal_id):
        raise HTTPException(404, "deal not found")  # PostgreSQL text cannot hold it, so no deal has this id
    record = await store.deal_with_latest(conn, principal.tenant_id, deal_id)
    if record is None:
        raise HTTPException(404, f"deal {deal_id!r} not found")
    if not visible_to(await owner_scope(conn, principal), record.snapshot.get("owner_id")):
        raise HTTPException(403, OUTSIDE_SCOPE)
    return record
