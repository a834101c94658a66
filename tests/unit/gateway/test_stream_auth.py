"""The WebSocket refuses a bad token or resume point with a close code a browser can read, before any event."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from dealpulse_common.auth import issue_token
from dealpulse_gateway import stream
from dealpulse_gateway.settings import GatewaySettings

SECRET = "unit-test-secret-of-at-least-32-bytes!"


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    # No Redis behind this app: a refused socket must be closed before the stream is ever touched.
    app.state.settings = GatewaySettings(jwt_secret=SECRET, redis_url="redis://127.0.0.1:1/0")
    app.include_router(stream.router)
    return TestClient(app)


def _close_code(client: TestClient, url: str, headers: dict[str, str] | None = None) -> int:
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(url, headers=headers or {}) as ws:
        ws.receive_text()
    return closed.value.code


@pytest.mark.parametrize("url", [
    "/v1/stream",
    "/v1/stream?token=garbage",
    "/v1/stream?token=" + issue_token("another-secret-also-32-bytes-long-x", "acme", "admin", "u1", 60),
])
def test_missing_or_invalid_token_closes_with_4401(client: TestClient, url: str) -> None:
    assert _close_code(client, url) == 4401


def test_invalid_authorization_header_closes_with_4401(client: TestClient) -> None:
    assert _close_code(client, "/v1/stream", {"Authorization": "Bearer garbage"}) == 4401


@pytest.mark.parametrize("last_id", ["$", "abc", "1-2-3"])
def test_bad_resume_point_closes_with_4400(client: TestClient, last_id: str) -> None:
    token = issue_token(SECRET, "acme", "admin", "u1", 60)
    assert _close_code(client, f"/v1/stream?token={token}&last_id={last_id}") == 4400


def test_unreachable_redis_closes_with_try_again_later(client: TestClient) -> None:
    token = issue_token(SECRET, "acme", "admin", "u1", 60)
    assert _close_code(client, f"/v1/stream?token={token}") == 1013
