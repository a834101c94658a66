"""Who sees which deal, for one owner: a scope of owners (a rep: themself; a manager: their team) or the whole
tenant (an admin). Which scope a principal gets is read from ``users`` (tests/integration/test_rbac_matrix.py)."""

from __future__ import annotations

import pytest

from dealpulse_gateway.auth import WHOLE_TENANT, OwnerScope, visible_to

REP = OwnerScope(frozenset({"rep-1"}))
TEAM = OwnerScope(frozenset({"mgr-1", "rep-1", "rep-2"}))


@pytest.mark.parametrize(("scope", "owner_id", "visible"), [
    (REP, "rep-1", True),
    (REP, "rep-2", False),
    (REP, None, False),  # an unassigned deal is not any rep's
    (REP, "", False),
    (REP, "Rep-1", False),  # ids are compared exactly
    (TEAM, "rep-2", True),
    (TEAM, "mgr-1", True),
    (TEAM, "rep-9", False),  # another team's
    (TEAM, None, False),  # nor any team's
    (WHOLE_TENANT, "rep-9", True),
    (WHOLE_TENANT, None, True),
])
def test_visible_to(scope: OwnerScope, owner_id: str | None, visible: bool) -> None:
    assert visible_to(scope, owner_id) is visible


def test_a_scope_lists_its_owners_in_order_for_queries() -> None:
    assert TEAM.listed() == ["mgr-1", "rep-1", "rep-2"]
    assert WHOLE_TENANT.listed() is None
