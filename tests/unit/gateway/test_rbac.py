"""Who sees which deal: reps their own, managers and admins the whole tenant."""

from __future__ import annotations

import pytest

from dealpulse_common.auth import Principal, Role
from dealpulse_gateway.auth import visible_to


def _principal(role: Role, user_id: str = "rep-1") -> Principal:
    return Principal(tenant_id="acme", role=role, user_id=user_id, expires_at=0.0)


@pytest.mark.parametrize(("role", "owner_id", "visible"), [
    (Role.REP, "rep-1", True),
    (Role.REP, "rep-2", False),
    (Role.REP, None, False),  # an unassigned deal is not any rep's
    (Role.REP, "", False),
    (Role.MANAGER, "rep-2", True),
    (Role.MANAGER, None, True),
    (Role.ADMIN, "rep-2", True),
    (Role.ADMIN, None, True),
])
def test_visible_to(role: Role, owner_id: str | None, visible: bool) -> None:
    assert visible_to(_principal(role), owner_id) is visible


def test_rep_ids_are_compared_exactly() -> None:
    assert not visible_to(_principal(Role.REP, "Rep-1"), "rep-1")
