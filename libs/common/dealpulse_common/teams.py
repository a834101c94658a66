"""Who is on a manager's team: themself and everyone below them along ``users.manager_id``, directly or not.

One query for the gateway's visibility rule (``owner_scope``) and the alerts' digests, so a manager's dashboard and
their digest cover the same people. ``UNION`` (not ``UNION ALL``) ends the walk at a cycle.
"""

from __future__ import annotations

import asyncpg

# $1 the tenant, $2 the manager; usable as a subquery (``owner_id IN (...)``).
TEAM_OF = """
WITH RECURSIVE team(user_id) AS (
    SELECT $2::text
    UNION
    SELECT u.user_id FROM users u JOIN team t ON u.manager_id = t.user_id WHERE u.tenant_id = $1
)
SELECT user_id FROM team
"""


async def team_members(conn: asyncpg.Connection, tenant_id: str, manager_id: str) -> list[str]:
    """The manager and everyone who reports to them, directly or not, in order; ``conn`` in the tenant's
    transaction."""
    rows = await conn.fetch(f"{TEAM_OF} ORDER BY user_id", tenant_id, manager_id)
    return [row["user_id"] for row in rows]
