"""JWT bearer tokens: who is calling, for which tenant, in which role.

Shared by every service that takes a token (the gateway for REST and WebSocket, ingest for imports). The tenant
in the token is the only tenant the caller can ever read: it is what ``tenant_transaction`` sets for row-level
security.

Two modes (``DEALPULSE_AUTH_MODE``): ``jwks`` verifies RS256/ES256 tokens of an identity provider against the keys
it publishes (``JwksTokens``: issuer, audience and expiry required); ``hs256`` verifies tokens signed with one
shared secret (``SharedSecretTokens``), which ``dealpulse token`` issues, for development only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import jwt

from dealpulse_common.settings import ServiceSettings
from dealpulse_common.tenancy import is_tenant_id

ALGORITHM = "HS256"
MAX_USER_ID_LENGTH = 200
PRINCIPAL_CLAIMS = ("sub", "tenant_id", "role", "exp")
# A boolean claim: true only for the operators who onboard tenants (set by the identity provider, or
# `dealpulse token --platform-admin` in development).
PLATFORM_ADMIN_CLAIM = "platform_admin"


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
    issued_at: float = 0.0
    """The token's ``iat`` (0 when it has none): a user enabled again is admitted only with tokens issued since."""
    platform_admin: bool = False
    """The ``platform_admin: true`` claim: may onboard, list, rotate and disable tenants (``/v1/platform/...``). It
    adds nothing inside a tenant: the role does that."""


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired or carries claims we do not accept."""


class KeysUnavailable(Exception):
    """The identity provider's keys could not be fetched: the token may be good, nobody can tell yet."""


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal:
        """The principal ``token`` proves; raises ``InvalidToken`` (or ``KeysUnavailable``)."""
        ...


def issue_token(secret: str, tenant_id: str, role: str, user_id: str, ttl_s: int, *,
                platform_admin: bool = False) -> str:
    """A signed token for ``user_id`` of ``tenant_id`` in ``role``, valid for ``ttl_s`` seconds (``platform_admin``:
    with the cross-tenant claim)."""
    _check_claims(tenant_id, role, user_id)
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "tenant_id": tenant_id, "role": str(role), "iat": now,
                              "exp": now + ttl_s}
    if platform_admin:
        claims[PLATFORM_ADMIN_CLAIM] = True
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> Principal:
    """A development token signed with ``secret`` (HS256)."""
    with _refusing_invalid():
        # The algorithm list is fixed, so a token declaring "none" or an asymmetric algorithm is refused.
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": [*PRINCIPAL_CLAIMS, "iat"]})
    return principal_of(claims)


@dataclass(frozen=True)
class SharedSecretTokens:
    """Development mode: tokens signed with one shared secret (``dealpulse token``)."""

    secret: str

    async def verify(self, token: str) -> Principal:
        return verify_token(self.secret, token)


@dataclass(frozen=True)
class JwksPolicy:
    """What a production token must satisfy, and how the identity provider's key set is cached."""

    jwks_url: str
    issuer: str
    audience: str
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway_s: float = 30.0
    cache_s: float = 300.0
    refetch_cooldown_s: float = 30.0
    timeout_s: float = 5.0


class JwksTokens:
    """Production mode: RS256/ES256 tokens verified with the key their ``kid`` names in the provider's JWKS.

    PyJWT's ``PyJWKClient`` caches the key set for ``cache_s``; a token naming a key the cached set lacks (the
    provider rotated) refetches the set at once, at most once per ``refetch_cooldown_s``, so forged kids cannot
    make us hammer the provider. The fetch is blocking I/O, so it runs in a thread.
    """

    def __init__(self, policy: JwksPolicy) -> None:
        self.policy = policy
        self._keys = jwt.PyJWKClient(policy.jwks_url, cache_keys=False, lifespan=policy.cache_s,
                                     timeout=policy.timeout_s, cooldown_duration=policy.refetch_cooldown_s)

    async def verify(self, token: str) -> Principal:
        policy = self.policy
        try:
            key = await asyncio.to_thread(self._keys.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as exc:
            raise KeysUnavailable(f"the identity provider's keys are unavailable: {exc}") from exc
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise InvalidToken(f"invalid token: {exc}") from exc
        with _refusing_invalid():
            claims = jwt.decode(token, key, algorithms=list(policy.algorithms), audience=policy.audience,
                                issuer=policy.issuer, leeway=policy.leeway_s,
                                options={"require": [*PRINCIPAL_CLAIMS, "iss", "aud"]})
        return principal_of(claims)


@contextmanager
def _refusing_invalid() -> Iterator[None]:
    """PyJWT's refusals as ``InvalidToken``, saying "expired" when that is why."""
    try:
        yield
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"invalid token: {exc}") from exc


def principal_of(claims: Mapping[str, Any]) -> Principal:
    """The principal of verified claims, if they name one we accept."""
    tenant_id, role, user_id = claims["tenant_id"], claims["role"], claims["sub"]
    try:
        _check_claims(tenant_id, role, user_id)
    except ValueError as exc:
        raise InvalidToken(f"invalid token: {exc}") from exc
    return Principal(tenant_id=tenant_id, role=Role(role), user_id=user_id, expires_at=float(claims["exp"]),
                     issued_at=float(claims.get("iat", 0)), platform_admin=claims.get(PLATFORM_ADMIN_CLAIM) is True)


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


def token_verifier(settings: ServiceSettings) -> TokenVerifier:
    """The verifier of the mode ``settings`` select (their validation makes sure jwks mode is complete)."""
    if settings.auth_mode == "hs256":
        return SharedSecretTokens(settings.jwt_secret)
    if settings.jwks_url is None or settings.jwt_issuer is None or settings.jwt_audience is None:
        raise ValueError("jwks mode needs a JWKS URL, an issuer and an audience")
    return JwksTokens(JwksPolicy(
        jwks_url=settings.jwks_url, issuer=settings.jwt_issuer, audience=settings.jwt_audience,
        algorithms=settings.jwt_algorithms, leeway_s=settings.jwt_leeway_s, cache_s=settings.jwks_cache_s,
        refetch_cooldown_s=settings.jwks_refetch_cooldown_s, timeout_s=settings.jwks_timeout_s))
