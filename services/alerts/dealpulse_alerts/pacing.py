"""How often and how soon a delivery is tried again, and how fast one channel is written to. Pure rules; the
clocks are passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from dealpulse_alerts.senders import Outcome


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_base_s: float = 2.0
    backoff_max_s: float = 300.0

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1, 2, …): base, doubling, capped."""
        return min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))


@dataclass(frozen=True)
class NextStep:
    status: Literal["sent", "retry", "failed"]
    error: str | None = None
    retry_at: datetime | None = None


def next_step(outcome: Outcome, attempt: int, policy: RetryPolicy, now: datetime) -> NextStep:
    """What a delivery becomes after attempt number ``attempt`` ended in ``outcome``.

    A refusal no retry can fix fails at once; anything else is tried again after the backoff, or after exactly the
    Retry-After Slack asked for, until the retry budget is spent; then it fails, with the last reason.
    """
    if outcome.sent:
        return NextStep("sent")
    error = outcome.error or "unknown error"
    if outcome.permanent:
        return NextStep("failed", error)
    if attempt >= policy.max_attempts:
        return NextStep("failed", f"gave up after {attempt} attempts: {error}")
    wait = outcome.retry_after_s if outcome.retry_after_s is not None else policy.backoff(attempt)
    return NextStep("retry", error, now + timedelta(seconds=wait))


class ChannelPace:
    """At most one message per ``interval_s`` per channel key, and none before a channel's Retry-After has passed.

    In-process: each replica keeps its own pace, and Slack's Retry-After corrects what several replicas together
    overrun.
    """

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._next_at: dict[str, float] = {}

    def wait_s(self, key: str | None) -> float:
        """How long to wait before the next message on ``key`` (None: a channel without a pace)."""
        if key is None:
            return 0.0
        return max(0.0, self._next_at.get(key, 0.0) - self._clock())

    def record(self, key: str | None, retry_after_s: float | None) -> None:
        if key is None:
            return
        pause = max(self._interval_s, retry_after_s or 0.0)
        self._next_at[key] = self._clock() + pause
