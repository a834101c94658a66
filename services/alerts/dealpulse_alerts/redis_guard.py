"""Redis as an accelerator that may be away: after a failure it is skipped for a few seconds.

Without this, a frozen Redis costs one socket timeout per alert and per batch, stalling the stream for minutes;
with it an outage costs one timeout per cool-down while the database alone keeps deciding (it is the truth).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

REDIS_UNAVAILABLE: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


class RedisGuard:
    def __init__(self, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._skip_until = 0.0

    def available(self) -> bool:
        return self._clock() >= self._skip_until

    def failed(self, what: str, exc: BaseException) -> None:
        if self.available():  # log once per outage window, not once per call
            log.warning("Redis unavailable (%s: %r); skipping it for %.0f s", what, exc, self._cooldown_s)
        self._skip_until = self._clock() + self._cooldown_s
