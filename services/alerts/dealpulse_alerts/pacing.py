"""How often and how soon a delivery is tried again. Pure rules; the clock is passed in. (How fast one channel is
written to is ``channel_pace``: replicas share it through Redis.)
"""

from __future__ import annotations

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
