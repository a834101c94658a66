"""The bearer-token dependencies every HTTP edge that takes a DealPulse JWT uses (gateway REST, ingest imports).

Tokens themselves (issue, verify, claims) live in ``dealpulse_common.auth``; each app keeps its signing secret in
``app.state.settings.jwt_secret``.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dealpulse_common.auth import InvalidToken, Principal, Role, verify_token

# auto_error=False: a missing header must produce our problem-details 401, not FastAPI's plain 403.
_bearer = HTTPBearer(auto_error=False, description="A DealPulse JWT (`dealpulse token`)")


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The verified caller, or a 401 problem with ``WWW-Authenticate: Bearer``."""
    if credentials is None:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    try:
        return verify_token(request.app.state.settings.jwt_secret, credentials.credentials)
    except InvalidToken as exc:
        # RFC 6750 §3: say why, so a client knows to fetch a new token rather than retry.
        reason = re.sub(r'[^A-Za-z0-9 .,:()_-]', "", str(exc))
        challenge = f'Bearer error="invalid_token", error_description="{reason}"'
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": challenge}) from exc


async def current_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """The verified caller if they are their tenant's admin, else a 403 problem."""
    if principal.role is not Role.ADMIN:
        raise HTTPException(403, "this needs the tenant admin role")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
CurrentAdmin = Annotated[Principal, Depends(current_admin)]
