"""Group commit: a tenant's webhooks that arrive while its previous group is being stored go in together.

Each accepted change holds a transaction open until the broker acknowledged it (see ``ingestor.accept_changes``).
One transaction and one broker batch per webhook capped ingest at the pool size divided by that wait, and left the
embedded broker a record batch per change, which it re-lists on every fetch (STACK.md, "The log-size trap"). Here
a tenant has at most one group in flight; whatever arrives meanwhile forms the next group, so a quiet tenant waits
for nothing and a busy one gets larger groups; the group adds no wait of its own (the producer's linger,
``KAFKA_LINGER_MS``, is the only one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from dealpulse_common.resilience import TRANSIENT

log = logging.getLogger(__name__)

Change = TypeVar("Change")
Outcome = TypeVar("Outcome")
StoreGroup = Callable[[Sequence[Change]], Awaitable[list[Outcome]]]


class GroupCommit(Generic[Change, Outcome]):
    """``submit`` returns the change's own outcome, or raises what storing its group raised.

    All or nothing per group, as ``store_group`` is: an outage fails every change of the group (nothing of it was
    stored, each caller answers "retry"); an error that may belong to one change's data stores the group's
    changes again one by one, so only that change fails."""

    def __init__(self, store_group: StoreGroup[Change, Outcome], *, max_group: int) -> None:
        self._store_group = store_group
        self._max_group = max_group
        self._waiting: dict[str, list[tuple[Change, asyncio.Future[Outcome]]]] = {}
        self._draining: dict[str, asyncio.Task[None]] = {}

    async def submit(self, tenant_id: str, change: Change) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tenant_id, []).append((change, future))
        if tenant_id not in self._draining:
            self._draining[tenant_id] = asyncio.create_task(self._drain(tenant_id))
        # A caller that goes away (client disconnect, shutdown) does not cancel its neighbours' group.
        return await asyncio.shield(future)

    async def _drain(self, tenant_id: str) -> None:
        try:
            while group := self._next_group(tenant_id):
                await self._store(group)
        finally:
            del self._draining[tenant_id]

    def _next_group(self, tenant_id: str) -> list[tuple[Change, asyncio.Future[Outcome]]]:
        waiting = self._waiting.get(tenant_id, [])
        group, rest = waiting[:self._max_group], waiting[self._max_group:]
        if rest:
            self._waiting[tenant_id] = rest
        else:
            self._waiting.pop(tenant_id, None)
        return group

    async def _store(self, group: list[tuple[Change, asyncio.Future[Outcome]]]) -> None:
        try:
            outcomes = await self._store_group([change for change, _ in group])
        except TRANSIENT as exc:
            _settle(group, exc)
        except Exception as exc:  # handed to each caller, who answers for it
            if len(group) == 1:
                _settle(group, exc)
                return
            log.warning("a group of %d changes failed (%r); storing them one by one", len(group), exc)
            for item in group:
                await self._store([item])
        else:
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)


def _settle(group: Sequence[tuple[object, asyncio.Future[Outcome]]], error: BaseException) -> None:
    for _, future in group:
        if not future.done():
            future.set_exception(error)
