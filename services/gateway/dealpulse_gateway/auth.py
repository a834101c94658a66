"""The gateway's RBAC rules: which deals a principal sees, and who may override a verdict. Token verification is
``dealpulse_common.http_auth``."""

from __future__ import annotations

from dealpulse_common.auth import Principal, Role


def visible_to(principal: Principal, owner_id: str | None) -> bool:
    """RBAC for one deal: a rep sees only deals they own; managers and admins see the whole tenant."""
    if principal.sees_whole_tenant():
        return True
    return owner_id is not None and owner_id == principal.user_id


def owner_scope(principal: Principal) -> list[str] | None:
    """The owners every read of deals is limited to (the same rule as ``visible_to``, for queries): the rep
    themself, or None — no limit — for managers and admins."""
    return None if principal.sees_whole_tenant() else [principal.user_id]


def may_override_verdicts(principal: Principal) -> bool:
    """A verdict override is a manager's judgement: managers and admins, never reps."""
    return principal.role in (Role.MANAGER, Role.ADMIN)
