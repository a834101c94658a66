"""The sync scoring proxy: the token's tenant goes to the scorer, the scorer's answer comes back unchanged."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dealpulse_common.service import install_problem_handlers
from dealpulse_gateway import scoring
from dealpulse_gateway.auth import issue_token
from dealpulse_gateway.settings import GatewaySettings

SECRET = "unit-test-secret-of-at-least-32-bytes!"
TOKEN = issue_token(SECRET, "acme", "rep", "rep-1", 60)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _app(scorer: httpx.AsyncClient) -> TestClient:
    app = FastAPI()
    app.state.settings = GatewaySettings(jwt_secret=SECRET, retry_after_s=3)
    app.state.scorer = scorer
    install_problem_handlers(app)
    app.include_router(scoring.router)
    return TestClient(app)


def test_forwards_the_deal_with_the_tokens_tenant_and_passes_the_answer_through() -> None:
    seen: list[httpx.Request] = []

    def scorer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"risk_score": 42, "echo": json.loads(request.content)})

    client = _app(httpx.AsyncClient(transport=httpx.MockTransport(scorer), base_url="http://scorer"))
    # A body naming another tenant must still be scored as the caller's tenant.
    response = client.post("/v1/deals/score", json={"deal_id": "D1", "amount": 10, "tenant_id": "globex"},
                           headers={**AUTH, "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"})
    assert response.status_code == 200
    assert response.json()["echo"] == {"deal_id": "D1", "amount": 10, "tenant_id": "acme"}
    [request] = seen
    assert request.url.path == "/score"
    assert request.headers["traceparent"].startswith("00-" + "a" * 32 + "-")  # same trace, new span


def test_scorer_errors_pass_through_with_their_status() -> None:
    def scorer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"detail": [{"loc": ["body", "amount"], "msg": "bad"}]})

    client = _app(httpx.AsyncClient(transport=httpx.MockTransport(scorer), base_url="http://scorer"))
    response = client.post("/v1/deals/score", json={"deal_id": "D1", "amount": "lots"}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "bad"


def test_unreachable_scorer_is_503_with_retry_after() -> None:
    client = _app(httpx.AsyncClient(base_url="http://127.0.0.1:1", timeout=1.0))  # nothing listens on port 1
    response = client.post("/v1/deals/score", json={"deal_id": "D1"}, headers=AUTH)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("body", [[1, 2], "deal", 3])
def test_a_body_that_is_not_an_object_is_422_without_calling_the_scorer(body: object) -> None:
    def scorer(_: httpx.Request) -> httpx.Response:
        raise AssertionError("the scorer must not be called")

    client = _app(httpx.AsyncClient(transport=httpx.MockTransport(scorer), base_url="http://scorer"))
    response = client.post("/v1/deals/score", json=body, headers=AUTH)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_no_token_no_scoring() -> None:
    client = _app(httpx.AsyncClient(base_url="http://127.0.0.1:1"))
    assert client.post("/v1/deals/score", json={"deal_id": "D1"}).status_code == 401
