"""The credential dependencies every HTTP edge uses: a caller's bearer token (gateway REST and WebSocket, ingest's
imports, alerts' test alert) and a service's credential (the scorer, called by the gateway only).

Tokens themselves (modes, verification, claims) live in ``dealpulse_common.auth``, service credentials in
``dealpulse_common.service_auth``; each app keeps its settings in ``app.state.settings``, and the verifier they
select is built once per app on first use.
"""

from __future__ import annotations

import re
from typing import Annotated

import asyncpg
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from dealpulse_common.auth import (
    InvalidToken,
    KeysUnavailable,
    Principal,
    Role,
    TokenVerifier,
    token_verifier,
)
from dealpulse_common.db import DATABASE_UNAVAILABLE
from dealpulse_common.rate_limits import limit_principal
from dealpulse_common.service import ServiceUnavailable
from dealpulse_common.service_auth import InvalidServiceCredential, ServiceCaller, verify_service_credential
from dealpulse_common.tenant_cache import TenantCache
from dealpulse_common.tenant_secrets import tenant_disabled

# auto_error=False: a missing header must produce our problem-details 401, not FastAPI's plain 403.
_bearer = HTTPBearer(auto_error=False, description="A DealPulse JWT (`dealpulse token`, or the identity provider's)")
_service_bearer = HTTPBearer(auto_error=False, scheme_name="ServiceCredential",
                             description="A service credential (only the gateway holds one)")
# How long a caller should wait when the identity provider's keys could not be fetched.
KEYS_RETRY_AFTER_S = 5


def token_verifier_of(app: FastAPI) -> TokenVerifier:
    """The verifier ``app``'s settings select, built on first use and kept (it holds the key-set cache)."""
    verifier: TokenVerifier | None = getattr(app.state, "token_verifier", None)
    if verifier is None:
        verifier = app.state.token_verifier = token_verifier(app.state.settings)
    return verifier


async def verified_principal(connection: HTTPConnection, token: str) -> Principal:
    """The principal ``token`` proves to ``connection``'s app, of a tenant that is not disabled; ``InvalidToken``
    or ``ServiceUnavailable``."""
    try:
        principal = await token_verifier_of(connection.app).verify(token)
    except KeysUnavailable as exc:
        raise ServiceUnavailable(str(exc), KEYS_RETRY_AFTER_S) from exc
    await refuse_disabled_tenant(connection.app, principal)
    return principal


async def refuse_disabled_tenant(app: FastAPI, principal: Principal) -> None:
    """``InvalidToken`` when the principal's tenant is disabled: its tokens admit nothing (a live WebSocket asks
    again as it goes). The apps that read tenant data keep ``app.state.tenant_status`` (``tenant_status_cache``), so
    a disable is seen within its TTL; a platform admin still reaches the platform routes to inspect the tenant."""
    status: TenantCache[bool] | None = getattr(app.state, "tenant_status", None)
    if status is None or principal.platform_admin:
        return
    try:
        disabled = await status.get(principal.tenant_id)
    except DATABASE_UNAVAILABLE as exc:
        raise ServiceUnavailable("database unavailable; retry later", KEYS_RETRY_AFTER_S) from exc
    if disabled:
        raise InvalidToken("this tenant is disabled")


def tenant_status_cache(app: FastAPI, pool: asyncpg.Pool) -> TenantCache[bool]:
    """Whether each tenant is disabled, kept ``tenant_status_cache_ttl_s``; installed as ``app.state.tenant_status``."""
    cache: TenantCache[bool] = TenantCache(app.state.settings.tenant_status_cache_ttl_s, tenant_disabled, pool=pool)
    app.state.tenant_status = cache
    return cache


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The verified caller (within their rate limits), or a 401 problem with ``WWW-Authenticate: Bearer``."""
    if credentials is None:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    try:
        principal = await verified_principal(request, credentials.credentials)
    except InvalidToken as exc:
        raise _invalid_token(str(exc)) from exc
    await limit_principal(request, principal)
    return principal


async def current_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """The verified caller if they are their tenant's admin, else a 403 problem."""
    if principal.role is not Role.ADMIN:
        raise HTTPException(403, "this needs the tenant admin role")
    return principal


async def current_platform_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """The verified caller if their token carries the platform admin claim (a tenant admin's does not), else 403."""
    if not principal.platform_admin:
        raise HTTPException(403, "this needs the platform admin role (the platform_admin claim)")
    return principal


async def current_service(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_service_bearer)],
) -> ServiceCaller:
    """The verified calling service and the tenant it acts for, or a 401 problem."""
    if credentials is None:
        raise HTTPException(401, "missing service credential", headers={"WWW-Authenticate": "Bearer"})
    settings = request.app.state.settings
    try:
        return verify_service_credential(settings.service_secret, credentials.credentials,
                                         audience=settings.service_name)
    except InvalidServiceCredential as exc:
        raise _invalid_token(str(exc)) from exc


def _invalid_token(reason: str) -> HTTPException:
    # RFC 6750 §3: say why, so a client knows to fetch a new token rather than retry.
    description = re.sub(r'[^A-Za-z0-9 .,:()_-]', "", reason)
    challenge = f'Bearer error="invalid_token", error_description="{description}"'
    return HTTPException(401, reason, headers={"WWW-Authenticate": challenge})


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
CurrentAdmin = Annotated[Principal, Depends(current_admin)]
CurrentPlatformAdmin = Annotated[Principal, Depends(current_platform_admin)]
CurrentService = Annotated[ServiceCaller, Depends(current_service)]
