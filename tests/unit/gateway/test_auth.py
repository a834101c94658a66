"""Tokens: what is issued verifies to the same principal; anything expired, forged or odd is refused."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dealpulse_common.auth import InvalidToken, Role, bearer_token, issue_token, verify_token
from dealpulse_common.http_auth import CurrentPrincipal
from dealpulse_common.service import install_problem_handlers
from dealpulse_gateway.settings import GatewaySettings

SECRET = "unit-test-secret-of-at-least-32-bytes!"


def _forge(secret: str = SECRET, algorithm: str = "HS256", **overrides: Any) -> str:
    now = int(time.time())
    claims = {"sub": "u1", "tenant_id": "acme", "role": "rep", "iat": now, "exp": now + 60, **overrides}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, algorithm=algorithm)


def test_issued_token_verifies_to_the_same_principal() -> None:
    token = issue_token(SECRET, "acme", "manager", "user-7", 3600)
    principal = verify_token(SECRET, token)
    assert (principal.tenant_id, principal.role, principal.user_id) == ("acme", Role.MANAGER, "user-7")
    assert time.time() + 3590 < principal.expires_at <= time.time() + 3600
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert set(claims) == {"sub", "tenant_id", "role", "iat", "exp"}


def test_expired_token_is_refused() -> None:
    expired = _forge(iat=int(time.time()) - 120, exp=int(time.time()) - 60)
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(SECRET, expired)


def test_token_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(InvalidToken):
        verify_token(SECRET, issue_token("someone-elses-secret-also-32-bytes-long", "acme", "admin", "u1", 60))


@pytest.mark.parametrize("role", ["superuser", "", "ADMIN", 3])
def test_unknown_role_is_refused(role: object) -> None:
    with pytest.raises(InvalidToken, match="role"):
        verify_token(SECRET, _forge(role=role))


@pytest.mark.parametrize("overrides", [
    {"tenant_id": None}, {"sub": None}, {"exp": None}, {"iat": None},
    {"tenant_id": "Acme Corp"}, {"tenant_id": ["acme"]}, {"sub": ""}, {"sub": "rep\x00"}, {"sub": "x" * 201},
])
def test_missing_or_malformed_claims_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        verify_token(SECRET, _forge(**overrides))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512 wants a longer key
def test_unsigned_and_other_algorithm_tokens_are_refused() -> None:
    with pytest.raises(InvalidToken):
        verify_token(SECRET, _forge(algorithm="none", secret=""))
    with pytest.raises(InvalidToken):
        verify_token(SECRET, _forge(algorithm="HS512"))
    with pytest.raises(InvalidToken):
        verify_token(SECRET, "not.a.jwt")


def test_issue_token_refuses_what_verify_would_refuse() -> None:
    with pytest.raises(ValueError, match="role"):
        issue_token(SECRET, "acme", "owner", "u1", 60)
    with pytest.raises(ValueError, match="tenant_id"):
        issue_token(SECRET, "ACME!", "rep", "u1", 60)
    with pytest.raises(ValueError, match="ttl"):
        issue_token(SECRET, "acme", "rep", "u1", 0)


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc.def", "abc.def"), ("bearer abc", "abc"), ("Basic dXNlcjpwdw==", None), ("Bearer ", None), (None, None),
])
def test_bearer_token_parsing(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    app.state.settings = GatewaySettings(jwt_secret=SECRET, redis_url="redis://127.0.0.1:1/0")
    install_problem_handlers(app)

    @app.get("/whoami")
    async def whoami(principal: CurrentPrincipal) -> dict[str, str]:
        return {"tenant_id": principal.tenant_id, "role": principal.role.value, "user_id": principal.user_id}

    return TestClient(app)


def test_a_valid_token_whose_user_cannot_be_checked_is_not_admitted(client: TestClient) -> None:
    # No Redis behind this app: whether the user was disabled cannot be told, so the answer is "retry", never a way
    # in. Admission itself (a valid token of a user not disabled) runs against the real stack in
    # tests/integration/test_people.py and every integration test of the REST routes.
    token = issue_token(SECRET, "acme", "rep", "rep-1", 60)
    response = client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json" and response.headers["retry-after"]


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer garbage"},
    {"Authorization": "Bearer " + _forge(exp=int(time.time()) - 1, iat=int(time.time()) - 60)},
])
def test_dependency_answers_401_problem_with_a_bearer_challenge(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/whoami", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized" and body["detail"]
