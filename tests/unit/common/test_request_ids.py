"""X-Request-ID over real HTTP (an app on the shared service skeleton, served by uvicorn): taken when well-formed,
made otherwise, echoed, on every log line of the request and in every problem body, also of an unhandled error."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, HTTPException

from dealpulse_common.logging import configure_logging
from dealpulse_common.service import install_problem_handlers
from tests.alert_fakes import free_port

log = logging.getLogger("tests.request_ids")


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/logged")
    async def logged() -> dict[str, str]:
        log.info("first line of the request")
        log.warning("second line of the request")
        return {"ok": "yes"}

    @app.get("/refused")
    async def refused() -> None:
        raise HTTPException(404, "nothing here")

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    return app


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, io.StringIO]]:
    configure_logging("request-ids-test")
    captured = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(captured)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_app(), host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", captured
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _lines_with(captured: io.StringIO, request_id: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in captured.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("request_id") == request_id]


def test_a_well_formed_id_is_taken_echoed_and_on_every_log_line(served: tuple[str, io.StringIO]) -> None:
    url, captured = served
    response = httpx.get(f"{url}/logged", headers={"X-Request-ID": "crm-retry-42"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "crm-retry-42"
    lines = _lines_with(captured, "crm-retry-42")
    assert [line["message"] for line in lines if line["logger"] == log.name] == [
        "first line of the request", "second line of the request"]
    # the server's own access line of the request too
    assert any(line["logger"] == "uvicorn.access" for line in lines)


@pytest.mark.parametrize("sent", [None, "", "has spaces", "x" * 129, "-leading-dash", "semi;colon"])
def test_a_missing_or_malformed_id_is_replaced_by_a_new_one(served: tuple[str, io.StringIO], sent: str | None) -> None:
    url, _ = served
    headers = {} if sent is None else {"X-Request-ID": sent}
    first = httpx.get(f"{url}/logged", headers=headers).headers["x-request-id"]
    second = httpx.get(f"{url}/logged", headers=headers).headers["x-request-id"]
    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second and first != sent


@pytest.mark.parametrize(("path", "status"), [("/refused", 404), ("/broken", 500), ("/no-such-route", 404)])
def test_every_problem_body_carries_the_request_id(served: tuple[str, io.StringIO], path: str, status: int) -> None:
    url, _ = served
    response = httpx.get(f"{url}{path}", headers={"X-Request-ID": "trace-me"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "trace-me"
    assert response.json()["request_id"] == "trace-me"
