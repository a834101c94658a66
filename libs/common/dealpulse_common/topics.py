"""The one topic registry: code names a topic only through these objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from dealpulse_common.events import (
    CloudEvent,
    DeadLetter,
    DealAlert,
    DealChanged,
    DealScored,
    DealVerdict,
    DealVerdictOverride,
)

E = TypeVar("E", bound=CloudEvent, covariant=True)


@dataclass(frozen=True)
class Topic(Generic[E]):
    """A topic, its one event model, and who writes and reads it (what docs/asyncapi.yaml is generated from)."""

    name: str
    event: type[E]
    producer: str
    consumers: tuple[str, ...]
    summary: str

    def decode(self, raw: bytes) -> E:
        return self.event.from_bytes(raw)


DEAL_CHANGED = Topic(
    "crm.deal.changed.v1", DealChanged, "ingest", ("scorer", "gateway"),
    "A deal's full merged snapshot after each CRM change, with the fields that changed; a deletion is a tombstone "
    "(data.deleted).")
DEAL_SCORED = Topic(
    "deal.scored.v1", DealScored, "scorer", ("verdict", "alerts", "gateway"),
    "Every score: risk score and category, win probability, top factors, recommendations, why it moved since the "
    "deal's previous score, similar won deals.")
DEAL_VERDICT = Topic(
    "deal.verdict.v1", DealVerdict, "verdict", ("alerts", "gateway"),
    "The verdict of every score: AI forecast, commit admission with its gates, AI verdict, reasons; data.changed "
    "marks the ones whose judgement is new (the only ones the live feed shows).")
DEAL_VERDICT_OVERRIDE = Topic(
    "deal.verdict.override.v1", DealVerdictOverride, "gateway", ("verdict",),
    "A manager's or admin's command to set (forecast category and reason) or remove the override of a deal's "
    "verdict; verdict records it in verdict_overrides and re-publishes the deal's verdict carrying it "
    "(provider \"override\").")
DEAL_ALERTS = Topic(
    "deal.alerts.v1", DealAlert, "alerts", ("gateway", "Slack bots"),
    "One event per alert (entered critical, risk jump, commit not admitted; at most one per deal and type per "
    "24 h): Block Kit blocks ready to post, the deep link, recipients with deliver_after, the dedupe key, and "
    "the factors and recommendations as data.")
DEAD_LETTERS = Topic(
    "dlq.v1", DeadLetter, "every service", ("operators",),
    "An event a service could not process, with its original bytes, where it came from and why it failed.")

ALL_TOPICS: tuple[Topic[CloudEvent], ...] = (DEAL_CHANGED, DEAL_SCORED, DEAL_VERDICT, DEAL_VERDICT_OVERRIDE, DEAL_ALERTS,
                                             DEAD_LETTERS)
