"""A scorer started before any model is active (a fresh cluster before its bootstrap Job) stays up, live but not
ready, answers 503 instead of scoring, and stops cleanly; it never exits on its own (no crash loop)."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from dealpulse_cli.supervisor import Supervisor
from tests.events import make_deal
from tests.support import RunningSystem, poll_until, scorer_credential


async def test_a_scorer_without_a_model_is_live_not_ready_and_waits(system: RunningSystem, tmp_path: Path) -> None:
    # A second scorer beside the running one, on ports of its own, with an empty registry.
    spare = Supervisor(env={**system.supervisor.env, "DEALPULSE_MODEL_REGISTRY": str(tmp_path / "empty-registry")},
                       log_dir=tmp_path / "logs", port_offset=system.supervisor.port_offset + 50)
    spare.start("scorer")
    log = tmp_path / "logs" / "scorer.log"
    try:
        async with httpx.AsyncClient(base_url=spare.url("scorer"), timeout=5) as client:
            async def waiting_and_live() -> bool:
                said = log.is_file() and "waiting for one" in log.read_text(errors="replace")
                try:
                    return said and (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await poll_until(waiting_and_live, timeout=60, interval=0.2)
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["model"] is False, ready.text
            deal = make_deal()
            scored = await client.post("/score", json=deal.model_dump(mode="json"),
                                       headers=scorer_credential(deal.tenant_id))
            assert scored.status_code == 503, scored.text
            assert scored.headers["content-type"].startswith("application/problem+json")
            assert int(scored.headers["Retry-After"]) > 0
        assert spare.processes["scorer"].poll() is None
    finally:
        code = spare.stop("scorer")
    # Stopped by our SIGTERM (uvicorn re-raises it once shut down), after a graceful shutdown of the lifespan.
    assert code == -signal.SIGTERM
    assert "Application shutdown complete." in log.read_text(errors="replace")
