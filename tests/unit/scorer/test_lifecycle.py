"""A scorer with no active model waits for one instead of exiting (a fresh cluster before its bootstrap Job)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from dealpulse_scorer.lifecycle import first_model
from dealpulse_scorer.model import ModelRegistry
from dealpulse_scorer.serving import ServingResolver
from tests.support import poll_until
from tests.unit.scorer.helpers import TrainedModel, clone_version


def _said_waiting(caplog: pytest.LogCaptureFixture) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return any("waiting for one" in message for message in caplog.messages)

    return probe


async def test_waits_for_a_model_and_serves_the_one_promoted_meanwhile(
        trained: TrainedModel, fresh_registry: ModelRegistry, caplog: pytest.LogCaptureFixture) -> None:
    stopping = asyncio.Event()
    waiting = asyncio.create_task(first_model(ServingResolver(fresh_registry), 0.05, stopping))
    clone_version(trained, fresh_registry, "v-unpromoted", minute=1)  # a trained version is not an active one
    await poll_until(_said_waiting(caplog), timeout=10)
    assert not waiting.done()
    fresh_registry.promote(clone_version(trained, fresh_registry, "v-first", minute=2))
    models = await asyncio.wait_for(waiting, timeout=10)
    assert models is not None and models.versions() == {None: "v-first"}


async def test_stops_waiting_when_told_to(fresh_registry: ModelRegistry, caplog: pytest.LogCaptureFixture) -> None:
    stopping = asyncio.Event()
    waiting = asyncio.create_task(first_model(ServingResolver(fresh_registry), 60.0, stopping))
    await poll_until(_said_waiting(caplog), timeout=10)
    stopping.set()
    assert await asyncio.wait_for(waiting, timeout=5) is None
