"""Production auth: a gateway and an ingest in jwks mode take the identity provider's RS256/ES256 tokens, follow a
key rotation without a restart, and refuse a wrong issuer or audience, an expired token and a development token.

The provider is a real local server (tests/identity_fake.py) that records each fetch of its key set.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import websockets

from dealpulse_common.auth import issue_token
from dealpulse_common.settings import ServiceSettings
from dealpulse_common.topics import DEAL_SCORED
from tests import events
from tests.identity_fake import AUDIENCE, ISSUER, IdentityProvider
from tests.support import RunningSystem, StreamClient, own_service, poll_until

COOLDOWN_S = 1.0


@pytest.fixture(scope="module")
def jwks_services(system: RunningSystem, identity_provider: IdentityProvider) -> Iterator[dict[str, str]]:
    env = {"DEALPULSE_AUTH_MODE": "jwks", "DEALPULSE_JWKS_URL": identity_provider.jwks_url,
           "DEALPULSE_JWT_ISSUER": ISSUER, "DEALPULSE_JWT_AUDIENCE": AUDIENCE, "DEALPULSE_JWT_LEEWAY_S": "5",
           "DEALPULSE_JWKS_REFETCH_COOLDOWN_S": str(COOLDOWN_S)}
    with own_service(system, "gateway", env) as gateway, own_service(system, "ingest", env) as ingest:
        yield {"gateway": gateway, "ingest": ingest}


async def _deals(url: str, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await client.get("/v1/deals/high-risk", headers={"Authorization": f"Bearer {token}"})


async def _import_status(url: str, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await client.get(f"/v1/imports/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"})


def _assert_refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert reason in response.json()["detail"].lower()


async def test_provider_tokens_work_across_a_key_rotation_without_restart(
        system: RunningSystem, identity_provider: IdentityProvider, jwks_services: dict[str, str]) -> None:
    tenant = await system.new_tenant("jwks")
    gateway, ingest = jwks_services["gateway"], jwks_services["ingest"]
    # Given tokens signed with the provider's RSA key A
    key_a = identity_provider.keys[-1]
    token_a = identity_provider.token(tenant.tenant_id, "admin", "alice")
    # Then the gateway's REST, its WebSocket and ingest's imports take them
    assert (await _deals(gateway, token_a)).status_code == 200
    assert (await _import_status(ingest, token_a)).status_code == 404  # authenticated; no such import
    stream = StreamClient(await websockets.connect(
        f"{gateway.replace('http', 'ws')}/v1/stream?token={token_a}", open_timeout=10))
    try:
        score = events.scored(tenant.tenant_id, "D-jwks", "alice")
        await system.publish(DEAL_SCORED, [score])
        assert (await stream.wait_for(lambda m: m["event"]["id"] == score.id))["kind"] == "score"
    finally:
        await stream.close()

    # When the provider rotates to an EC key B
    fetched_before = identity_provider.fetches
    key_b = identity_provider.rotate("ES256")
    token_b = identity_provider.token(tenant.tenant_id, "rep", "bob")
    # Then a B-signed token is taken once the refetch cooldown allows it, without any restart
    assert await poll_until(lambda: _status_is(gateway, token_b, 200), timeout=10 * COOLDOWN_S)
    assert await poll_until(lambda: _import_is(ingest, token_b, 403), timeout=10 * COOLDOWN_S)  # a rep, not admin
    assert identity_provider.fetches > fetched_before
    # And a token of the retired key A is refused now that the set no longer holds it
    _assert_refused(await _deals(gateway, identity_provider.token(tenant.tenant_id, key=key_a)), "signing key")
    assert key_b.kid != key_a.kid


async def _status_is(url: str, token: str, status: int) -> bool:
    return (await _deals(url, token)).status_code == status


async def _import_is(url: str, token: str, status: int) -> bool:
    return (await _import_status(url, token)).status_code == status


@pytest.mark.parametrize(("claims", "reason"), [
    ({"iss": "https://someone-else.test/"}, "issuer"),
    ({"aud": "another-api"}, "audience"),
    ({"iat": int(time.time()) - 600, "exp": int(time.time()) - 60}, "expired"),
    ({"iss": None}, "iss"),
    ({"aud": None}, "aud"),
])
async def test_wrong_issuer_audience_or_an_expired_token_is_a_401_problem(
        system: RunningSystem, identity_provider: IdentityProvider, jwks_services: dict[str, str],
        claims: dict[str, object], reason: str) -> None:
    tenant = await system.new_tenant("jwks")
    token = identity_provider.token(tenant.tenant_id, **claims)
    _assert_refused(await _deals(jwks_services["gateway"], token), reason)
    _assert_refused(await _import_status(jwks_services["ingest"], token), reason)


async def test_a_development_token_is_refused_in_jwks_mode(
        system: RunningSystem, jwks_services: dict[str, str]) -> None:
    tenant = await system.new_tenant("jwks")
    development = issue_token(ServiceSettings().jwt_secret, tenant.tenant_id, "admin", "mallory", 600)
    response = await _deals(jwks_services["gateway"], development)
    assert response.status_code == 401


async def test_unknown_key_ids_refetch_the_key_set_at_most_once_per_cooldown(
        system: RunningSystem, identity_provider: IdentityProvider, jwks_services: dict[str, str]) -> None:
    tenant = await system.new_tenant("jwks")
    fetched_before = identity_provider.fetches
    started = time.monotonic()
    for _ in range(20):
        forged = identity_provider.token(tenant.tenant_id, kid=f"forged-{uuid.uuid4().hex[:6]}")
        assert (await _deals(jwks_services["gateway"], forged)).status_code == 401
    elapsed = time.monotonic() - started
    assert identity_provider.fetches - fetched_before <= 1 + int(elapsed / COOLDOWN_S)
