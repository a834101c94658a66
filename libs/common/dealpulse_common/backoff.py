"""Waiting out an outage: run an operation again, with exponential backoff, for up to a time budget."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


async def with_backoff(operation: Callable[[], Awaitable[T]], retry_on: tuple[type[BaseException], ...],
                       budget_s: float, *, what: str, max_delay_s: float = 5.0) -> T:
    """``operation``'s result; one of ``retry_on`` is retried (0.2 s, doubling to ``max_delay_s``) until ``budget_s``
    is spent, then it propagates. Only for operations that are safe to run again (idempotent writes, re-publishing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_s
    delay = 0.2
    while True:
        try:
            return await operation()
        except retry_on as exc:
            if loop.time() + delay > deadline:
                raise
            log.warning("%s failed (%s); retrying in %.1f s", what, type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)
