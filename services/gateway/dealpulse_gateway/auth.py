"""The gateway's per-deal RBAC rule. Token verification is ``dealpulse_common.http_auth``."""

from __future__ import annotations

from dealpulse_common.auth import Principal


def visible_to(principal: Principal, owner_id: str | None) -> bool:
    """RBAC for one deal: a rep sees only deals they own; managers and admins see the whole tenant."""
    if principal.sees_whole_tenant():
        return True
    return owner_id is not None and owner_id == principal.user_id
