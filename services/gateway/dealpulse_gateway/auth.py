"""The gateway's RBAC rules: which deals a principal sees, and who may override a verdict. Token verification is
``dealpulse_common.http_auth``; a disabled user's tokens are refused there (``dealpulse_common.revocation``).

Every read of deals — one deal, its history, the lists, the analytics, the live stream, alert feedback — asks
``owner_scope`` once and filters with it (``visible_to`` for one owner, ``OwnerScope.owners`` in queries).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from dealpulse_common.auth import Principal, Role
from dealpulse_common.teams import team_members


@dataclass(frozen=True)
class OwnerScope:
    """The deal owners a principal may see; ``owners`` None means the whole tenant."""

    owners: frozenset[str] | None

    def listed(self) -> list[str] | None:
        """The owners in a stable order, for queries (None: no limit)."""
        return None if self.owners is None else sorted(self.owners)


WHOLE_TENANT = OwnerScope(None)


async def owner_scope(conn: asyncpg.Connection, principal: Principal) -> OwnerScope:
    """An admin sees the tenant; a manager their team: themself and everyone who reports to them, directly or not
    (``dealpulse_common.teams``; a manager nobody reports to sees only their own deals); a rep their own deals.
    ``conn`` is in the principal's tenant transaction."""
    if principal.role is Role.ADMIN:
        return WHOLE_TENANT
    if principal.role is Role.MANAGER:
        return OwnerScope(frozenset(await team_members(conn, principal.tenant_id, principal.user_id)))
    return OwnerScope(frozenset({principal.user_id}))


def visible_to(scope: OwnerScope, owner_id: str | None) -> bool:
    """Whether a deal owned by ``owner_id`` is within ``scope`` (an unassigned deal only in the whole tenant's)."""
    if scope.owners is None:
        return True
    return owner_id is not None and owner_id in scope.owners


def may_override_verdicts(principal: Principal) -> bool:
    """A verdict override is a manager's judgement: managers and admins, never reps."""
    return principal.role in (Role.MANAGER, Role.ADMIN)
