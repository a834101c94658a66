"""What a stream handler does when something fails: wait out an outage, dead-letter a poison event.

``StreamProcessor`` dead-letters bytes that do not parse; an event that parses but cannot be handled (a value the
database refuses, say) must not stop its partition either. An outage, by contrast, is retried as a whole batch:
every write is idempotent by event id, so running it again is safe.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from pydantic import ValidationError

from dealpulse_common.backoff import with_backoff
from dealpulse_common.db import DATABASE_UNAVAILABLE
from dealpulse_common.events import CloudEvent, DeadLetter, DeadLetterData, deterministic_id, utcnow
from dealpulse_common.kafka import Outgoing, PublishError
from dealpulse_common.topics import DEAD_LETTERS, Topic

T = TypeVar("T")

# A handler that publishes from inside (alerts: publish, then mark published) sees broker outages here too.
TRANSIENT: tuple[type[BaseException], ...] = (
    *DATABASE_UNAVAILABLE, asyncpg.TransactionRollbackError, asyncpg.QueryCanceledError, PublishError,
)
# Errors that belong to one event (its data), not to the service: that event is dead-lettered, the rest go on.
POISON: tuple[type[BaseException], ...] = (asyncpg.PostgresError, ValidationError, ValueError, ArithmeticError)


async def retry_transient(operation: Callable[[], Awaitable[T]], budget_s: float) -> T:
    """Run ``operation``, again with backoff while the database or broker is away, for up to ``budget_s`` seconds.

    Past the budget the error propagates and the service stops, so its supervisor restarts it; the consumer
    group hands the uncommitted batch to whoever owns the partition next.
    """
    return await with_backoff(operation, TRANSIENT, budget_s, what="the batch (database or broker unavailable)")


def dead_letter_for(event: CloudEvent, topic: Topic[CloudEvent], service: str, error: BaseException) -> Outgoing:
    """A dead letter carrying the event as it was consumed; its id is stable, so a replay does not add another."""
    letter = DeadLetter.create(
        source=f"dealpulse/{service}", tenant_id=event.tenantid, deal_id=event.dealid,
        id=deterministic_id("dead-letter", service, event.id), traceparent=event.traceparent,
        data=DeadLetterData(
            original_topic=topic.name, original_key=event.key,
            original_value_b64=base64.b64encode(event.to_bytes()).decode(),
            error=f"{type(error).__name__}: {error}"[:2000], service=service, failed_at=utcnow(),
        ),
    )
    return Outgoing(DEAD_LETTERS, letter)
