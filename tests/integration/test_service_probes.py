"""Every service answers its probes, and exposes exactly the metrics declared in libs/common."""

from __future__ import annotations

import httpx
import pytest

from dealpulse_cli.supervisor import DEFAULT_PORTS
from dealpulse_common.metrics import ALL_METRICS
from tests.support import RunningSystem

DECLARED = {metric._name for metric in ALL_METRICS}  # prometheus_client keeps the base name here


@pytest.mark.parametrize("service", sorted(DEFAULT_PORTS))
async def test_service_is_healthy_ready_and_exposes_only_declared_metrics(system: RunningSystem, service: str) -> None:
    async with httpx.AsyncClient(base_url=system.url(service), timeout=5) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = (await client.get("/readyz")).json()
        assert ready["ready"] is True and all(ready["checks"].values()), ready
    exposed = {family.name for family in await system.metric_families(service) if family.name.startswith("dealpulse_")}
    assert exposed <= DECLARED, f"undeclared metrics: {exposed - DECLARED}"
    assert exposed == DECLARED, "a declared metric is missing from the exposition"
