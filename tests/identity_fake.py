"""An identity provider as a real local server: it publishes a JWKS (``/jwks.json``), records every fetch, signs
tokens with its current keys and rotates them when told to."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.alert_fakes import free_port, serve_locally

ISSUER = "https://idp.test/"
AUDIENCE = "dealpulse-test"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str  # RS256 or ES256
    private_key: Any

    @classmethod
    def new(cls, algorithm: str) -> SigningKey:
        private = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if algorithm == "RS256"
                   else ec.generate_private_key(ec.SECP256R1()))
        return cls(f"{algorithm.lower()}-{uuid.uuid4().hex[:8]}", algorithm, private)

    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.algorithms.RSAAlgorithm if self.algorithm == "RS256" else jwt.algorithms.ECAlgorithm
        jwk: dict[str, Any] = algorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}


@dataclass
class IdentityProvider:
    port: int
    keys: list[SigningKey] = field(default_factory=list)
    fetches: int = 0
    _runner: web.AppRunner | None = None

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks.json"

    def rotate(self, algorithm: str) -> SigningKey:
        """Publish a new key in place of the current ones (their tokens stop verifying once a verifier refetches)."""
        key = SigningKey.new(algorithm)
        self.keys = [key]
        return key

    def token(self, tenant_id: str, role: str = "admin", user: str = "idp-user", *, key: SigningKey | None = None,
              kid: str | None = None, ttl_s: int = 600, **overrides: Any) -> str:
        """A token as the provider issues it, signed with ``key`` (the current one by default); an override of
        None leaves that claim out."""
        signer = key or self.keys[-1]
        now = int(time.time())
        claims = {"sub": user, "tenant_id": tenant_id, "role": role, "iss": ISSUER, "aud": AUDIENCE, "iat": now,
                  "exp": now + ttl_s, **overrides}
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, signer.private_key, algorithm=signer.algorithm, headers={"kid": kid or signer.kid})

    async def _jwks(self, _: web.Request) -> web.Response:
        self.fetches += 1
        return web.json_response({"keys": [key.public_jwk() for key in self.keys]})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/jwks.json", self._jwks)
        self._runner = await serve_locally(app, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture(scope="module")
async def identity_provider() -> AsyncIterator[IdentityProvider]:
    provider = IdentityProvider(free_port())
    provider.rotate("RS256")
    await provider.start()
    try:
        yield provider
    finally:
        await provider.stop()
