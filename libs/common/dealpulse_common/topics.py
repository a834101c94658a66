"""The one topic registry: code names a topic only through these objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from dealpulse_common.events import CloudEvent, DeadLetter, DealAlert, DealChanged, DealScored, DealVerdict

E = TypeVar("E", bound=CloudEvent, covariant=True)


@dataclass(frozen=True)
class Topic(Generic[E]):
    name: str
    event: type[E]

    def decode(self, raw: bytes) -> E:
        return self.event.from_bytes(raw)


DEAL_CHANGED = Topic("crm.deal.changed.v1", DealChanged)
DEAL_SCORED = Topic("deal.scored.v1", DealScored)
DEAL_VERDICT = Topic("deal.verdict.v1", DealVerdict)
DEAL_ALERTS = Topic("deal.alerts.v1", DealAlert)
DEAD_LETTERS = Topic("dlq.v1", DeadLetter)

ALL_TOPICS: tuple[Topic[CloudEvent], ...] = (DEAL_CHANGED, DEAL_SCORED, DEAL_VERDICT, DEAL_ALERTS, DEAD_LETTERS)
