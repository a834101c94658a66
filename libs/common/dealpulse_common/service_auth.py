"""The credential one DealPulse service presents to another: a short-lived HS256 JWT signed with the shared
``DEALPULSE_SERVICE_SECRET``, naming the caller (``iss``), the service called (``aud``) and the tenant the call is
for, which the caller took from its own verified principal.

The callee takes the tenant from here, never from the body alone: a call whose body names another tenant is
refused. The secret is a different one from the user tokens' (``DEALPULSE_JWT_SECRET``), so no user token can pass
for a service.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from dealpulse_common.tenancy import is_tenant_id

ALGORITHM = "HS256"
# Issued per call, so it only has to outlive the request; a stolen one is worthless a minute later.
TTL_S = 60


@dataclass(frozen=True)
class ServiceCaller:
    service: str
    tenant_id: str


class InvalidServiceCredential(Exception):
    """Missing, forged, expired, meant for another service, or naming no tenant."""


def issue_service_credential(secret: str, *, caller: str, audience: str, tenant_id: str) -> str:
    if not is_tenant_id(tenant_id):
        raise ValueError("tenant_id must be a tenant id")
    now = int(time.time())
    claims = {"iss": caller, "aud": audience, "tenant_id": tenant_id, "iat": now, "exp": now + TTL_S}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_service_credential(secret: str, token: str, *, audience: str) -> ServiceCaller:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=audience,
                            options={"require": ["iss", "aud", "tenant_id", "exp"]})
    except jwt.InvalidTokenError as exc:
        raise InvalidServiceCredential(f"invalid service credential: {exc}") from exc
    caller, tenant_id = claims["iss"], claims["tenant_id"]
    if not isinstance(caller, str) or not is_tenant_id(tenant_id):
        raise InvalidServiceCredential("invalid service credential: it names no caller or no tenant")
    return ServiceCaller(service=caller, tenant_id=tenant_id)
