"""Every service of the running system takes, echoes and puts in its problem bodies the caller's X-Request-ID."""

from __future__ import annotations

import httpx
import pytest

from dealpulse_cli.supervisor import DEFAULT_PORTS
from tests.support import RunningSystem


@pytest.mark.parametrize("service", list(DEFAULT_PORTS))
async def test_each_service_echoes_the_request_id_and_puts_it_in_problems(system: RunningSystem,
                                                                        service: str) -> None:
    async with httpx.AsyncClient(base_url=system.url(service), timeout=10) as client:
        probe = await client.get("/healthz", headers={"X-Request-ID": f"probe-{service}"})
        missing = await client.get("/v1/no-such-route", headers={"X-Request-ID": f"problem-{service}"})
        made = await client.get("/healthz")
    assert probe.headers["x-request-id"] == f"probe-{service}"
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == missing.json()["request_id"] == f"problem-{service}"
    assert len(made.headers["x-request-id"]) == 32
