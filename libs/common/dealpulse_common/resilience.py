"""What a stream handler does when something fails: wait out an outage, dead-letter a poison event.

``StreamProcessor`` dead-letters bytes that do not parse; an event that parses but cannot be handled (a value the
database refuses, say) must not stop its partition either. An outage, by contrast, is retried as a whole batch:
every write is idempotent by event id, so running it again is safe.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg
from pydantic import ValidationError

from dealpulse_common import metrics
from dealpulse_common.backoff import with_backoff
from dealpulse_common.db import DATABASE_UNAVAILABLE
from dealpulse_common.events import CloudEvent, DeadLetter, deterministic_id
from dealpulse_common.kafka import Outgoing, PublishError
from dealpulse_common.topics import DEAD_LETTERS, Topic

T = TypeVar("T")
E = TypeVar("E", bound=CloudEvent)
log = logging.getLogger(__name__)

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
    letter = DeadLetter.of(
        service=service, original_topic=topic.name, original_key=event.key, original=event.to_bytes(),
        error=f"{type(error).__name__}: {error}", tenant_id=event.tenantid, deal_id=event.dealid,
        id=deterministic_id("dead-letter", service, event.id), traceparent=event.traceparent,
    )
    return Outgoing(DEAD_LETTERS, letter)


async def each_isolated(
    conn: asyncpg.Connection,
    events: Sequence[E],
    work: Callable[[E], Awaitable[T]],
    *,
    service: str,
    topic_of: Callable[[E], Topic[CloudEvent]],
    on_poison: Callable[[E], Awaitable[None]] | None = None,
) -> tuple[list[T], list[Outgoing]]:
    """Run ``work`` for each event in a savepoint of the caller's transaction, in order.

    An event whose data fails (``POISON``) is rolled back alone and comes back as its dead letter, while its
    neighbours, and the partition, go on; ``on_poison`` undoes what it did outside the database. An outage
    (``TRANSIENT``) propagates, so the caller retries the whole batch. Returns the results and the dead letters;
    the caller counts the letters once its batch is durable.
    """
    results: list[T] = []
    letters: list[Outgoing] = []
    for event in events:
        try:
            async with conn.transaction():
                results.append(await work(event))
        except TRANSIENT:
            raise
        except POISON as exc:
            topic = topic_of(event)
            log.exception("cannot handle %s from %s; dead-lettered", event.id, topic.name)
            if on_poison is not None:
                await on_poison(event)
            letters.append(dead_letter_for(event, topic, service, exc))
    return results, letters


async def together_else_isolated(
    conn: asyncpg.Connection,
    events: Sequence[E],
    work: Callable[[E], Awaitable[T]],
    *,
    service: str,
    topic_of: Callable[[E], Topic[CloudEvent]],
) -> tuple[list[T], list[Outgoing]]:
    """``each_isolated`` for a batch whose events are usually all fine: first every event in one savepoint, and
    only if one's data fails, each in its own. A clean batch costs two round trips instead of two per event.

    Only for ``work`` that does nothing outside the database: the first attempt is rolled back as a whole."""
    try:
        async with conn.transaction():
            return [await work(event) for event in events], []
    except TRANSIENT:
        raise
    except POISON:
        log.warning("an event in a batch of %d cannot be handled; handling them one by one", len(events))
    return await each_isolated(conn, events, work, service=service, topic_of=topic_of)


def count_dead_letters(service: str, letters: Sequence[Outgoing]) -> None:
    """Count dead letters by the topic their event came from (once the batch that wrote them is durable)."""
    for letter in letters:
        assert isinstance(letter.event, DeadLetter)
        metrics.DEAD_LETTERS.labels(service, letter.event.data.original_topic).inc()
