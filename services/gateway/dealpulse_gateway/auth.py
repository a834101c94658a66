"""The gateway's side of authentication: the FastAPI dependency and the per-deal RBAC rule.

Tokens themselves (issue, verify, claims) live in ``dealpulse_common.auth``.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dealpulse_common.auth import InvalidToken, Principal, verify_token


def visible_to(principal: Principal, owner_id: str | None) -> bool:
    """RBAC for one deal: a rep sees only deals they own; managers and admins see the whole tenant."""
    if principal.sees_whole_tenant():
        return True
    return owner_id is not None and owner_id == principal.user_id


# auto_error=False: a missing header must produce our problem-details 401, not FastAPI's plain 403.
_bearer = HTTPBearer(auto_error=False, description="A DealPulse JWT (`dealpulse token`)")


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """FastAPI dependency: the verified caller, or a 401 problem with ``WWW-Authenticate: Bearer``."""
    if credentials is None:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    try:
        return verify_token(request.app.state.settings.jwt_secret, credentials.credentials)
    except InvalidToken as exc:
        # RFC 6750 §3: say why, so a client knows to fetch a new token rather than retry.
        reason = re.sub(r'[^A-Za-z0-9 .,:()_-]', "", str(exc))
        challenge = f'Bearer error="invalid_token", error_description="{reason}"'
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": challenge}) from exc


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
