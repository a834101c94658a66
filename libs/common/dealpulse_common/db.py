"""PostgreSQL access: a pool per service and transactions that always carry the tenant (row-level security)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson


async def _init_connection(conn: asyncpg.Connection) -> None:
    for codec in ("json", "jsonb"):
        await conn.set_type_codec(
            codec, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
        )


async def create_pool(url: str, *, max_size: int = 8) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=max_size, init=_init_connection)
    assert pool is not None
    return pool


@asynccontextmanager
async def tenant_transaction(pool: asyncpg.Pool, tenant_id: str) -> AsyncIterator[asyncpg.Connection]:
    """A transaction in which row-level security admits only ``tenant_id``'s rows."""
    async with pool.acquire() as conn, conn.transaction():
        await set_tenant(conn, tenant_id)
        yield conn


async def set_tenant(conn: asyncpg.Connection, tenant_id: str) -> None:
    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)


# Errors that mean "the database cannot be reached right now" (retry later), as opposed to bugs in a query.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    # A restart or failover ends every session with "terminating connection due to administrator command"
    # (57P01) or, after a crash, 57P02: the server is going away, not refusing the query's data.
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    # A connection the server ended while asyncpg was mid-operation on it ("cannot switch to state ..."): that
    # connection is unusable, the next one from the pool is not.
    asyncpg.InternalClientError,
)
