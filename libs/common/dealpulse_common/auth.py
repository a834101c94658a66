"""JWT (HS256) bearer tokens: who is calling, for which tenant, in which role.

Shared by every service that takes a token (the gateway for REST and WebSocket, ingest for imports). The tenant
in the token is the only tenant the caller can ever read: it is what ``tenant_transaction`` sets for row-level
security.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import jwt

from dealpulse_common.tenancy import is_tenant_id

ALGORITHM = "HS256"
MAX_USER_ID_LENGTH = 200


class Role(StrEnum):
    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    role: Role
    user_id: str
    expires_at: float
    """Unix time after which the token no longer admits anything (a live WebSocket is closed then)."""

    def sees_whole_tenant(self) -> bool:
        # Managers see the whole tenant until team scoping (users.manager_id) is built.
        return self.role in (Role.MANAGER, Role.ADMIN)


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired or carries claims we do not accept."""


def issue_token(secret: str, tenant_id: str, role: str, user_id: str, ttl_s: int) -> str:
    """A signed token for ``user_id`` of ``tenant_id`` in ``role``, valid for ``ttl_s`` seconds."""
    _check_claims(tenant_id, role, user_id)
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    now = int(time.time())
    claims = {"sub": user_id, "tenant_id": tenant_id, "role": str(role), "iat": now, "exp": now + ttl_s}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> Principal:
    try:
        # The algorithm list is fixed, so a token declaring "none" or an asymmetric algorithm is refused.
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM],
                            options={"require": ["sub", "tenant_id", "role", "exp", "iat"]})
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"invalid token: {exc}") from exc
    tenant_id, role, user_id = claims["tenant_id"], claims["role"], claims["sub"]
    try:
        _check_claims(tenant_id, role, user_id)
    except ValueError as exc:
        raise InvalidToken(f"invalid token: {exc}") from exc
    return Principal(tenant_id=tenant_id, role=Role(role), user_id=user_id, expires_at=float(claims["exp"]))


def _check_claims(tenant_id: object, role: object, user_id: object) -> None:
    if not is_tenant_id(tenant_id):  # a token naming anything else is not one we issued
        raise ValueError("tenant_id must be a lowercase identifier")
    if role not in {r.value for r in Role}:
        raise ValueError(f"role must be one of {', '.join(r.value for r in Role)}")
    if not isinstance(user_id, str) or not 0 < len(user_id) <= MAX_USER_ID_LENGTH or not user_id.isprintable():
        raise ValueError("sub (user id) must be a non-empty printable string")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if that is what the header holds."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
