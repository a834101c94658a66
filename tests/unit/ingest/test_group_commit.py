"""Group commit: what arrives while a tenant's group is stored goes in the next group, each caller gets its own
outcome, an outage fails the whole group and a bad change fails alone."""

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest

from dealpulse_ingest.group_commit import GroupCommit


class Recorder:
    """A store that records each group it is handed and holds the first one until released."""

    def __init__(self, fail_on: str | None = None, outage: bool = False) -> None:
        self.groups: list[list[str]] = []
        self.release = asyncio.Event()
        self._fail_on = fail_on
        self._outage = outage

    async def store(self, changes: Sequence[str]) -> list[str]:
        self.groups.append(list(changes))
        if len(self.groups) == 1:
            await self.release.wait()
        if self._outage:
            raise asyncpg.CannotConnectNowError("database restarting")
        if self._fail_on in changes:
            raise ValueError(f"{self._fail_on} cannot be stored")
        return [f"stored {change}" for change in changes]


async def _until(predicate: object, timeout_s: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.001)


async def test_changes_arriving_during_a_group_form_the_next_one_and_each_caller_gets_its_own_outcome() -> None:
    recorder = Recorder()
    groups = GroupCommit(recorder.store, max_group=100)
    first = asyncio.create_task(groups.submit("t1", "a"))
    await _until(lambda: recorder.groups == [["a"]])
    later = [asyncio.create_task(groups.submit("t1", change)) for change in ("b", "c", "d")]
    await asyncio.sleep(0)
    recorder.release.set()
    assert await first == "stored a"
    assert await asyncio.gather(*later) == ["stored b", "stored c", "stored d"]
    assert recorder.groups == [["a"], ["b", "c", "d"]]


async def test_a_group_never_exceeds_its_size_and_tenants_do_not_share_one() -> None:
    recorder = Recorder()
    groups = GroupCommit(recorder.store, max_group=2)
    first = asyncio.create_task(groups.submit("t1", "a"))
    await _until(lambda: len(recorder.groups) == 1)
    other_tenant = asyncio.create_task(groups.submit("t2", "x"))
    await _until(lambda: len(recorder.groups) == 2)  # t2 is not held behind t1's group
    later = [asyncio.create_task(groups.submit("t1", change)) for change in ("b", "c", "d")]
    await asyncio.sleep(0)
    recorder.release.set()
    await asyncio.gather(first, other_tenant, *later)
    assert recorder.groups == [["a"], ["x"], ["b", "c"], ["d"]]


async def test_an_outage_fails_every_change_of_the_group() -> None:
    recorder = Recorder(outage=True)
    groups = GroupCommit(recorder.store, max_group=100)
    first = asyncio.create_task(groups.submit("t1", "a"))
    await _until(lambda: len(recorder.groups) == 1)
    later = [asyncio.create_task(groups.submit("t1", change)) for change in ("b", "c")]
    await asyncio.sleep(0)
    recorder.release.set()
    results = await asyncio.gather(first, *later, return_exceptions=True)
    assert all(isinstance(result, asyncpg.CannotConnectNowError) for result in results)
    assert recorder.groups == [["a"], ["b", "c"]]  # an outage is not retried change by change


async def test_a_change_that_cannot_be_stored_fails_alone_and_its_neighbours_are_stored() -> None:
    recorder = Recorder(fail_on="c")
    groups = GroupCommit(recorder.store, max_group=100)
    first = asyncio.create_task(groups.submit("t1", "a"))
    await _until(lambda: len(recorder.groups) == 1)
    later = [asyncio.create_task(groups.submit("t1", change)) for change in ("b", "c", "d")]
    await asyncio.sleep(0)
    recorder.release.set()
    results = await asyncio.gather(first, *later, return_exceptions=True)
    assert results[:2] == ["stored a", "stored b"] and results[3] == "stored d"
    assert isinstance(results[2], ValueError)
    assert recorder.groups == [["a"], ["b", "c", "d"], ["b"], ["c"], ["d"]]


async def test_a_caller_that_goes_away_does_not_cancel_its_group() -> None:
    recorder = Recorder()
    groups = GroupCommit(recorder.store, max_group=100)
    first = asyncio.create_task(groups.submit("t1", "a"))
    await _until(lambda: len(recorder.groups) == 1)
    first.cancel()
    neighbour = asyncio.create_task(groups.submit("t1", "b"))
    await asyncio.sleep(0)
    recorder.release.set()
    assert await neighbour == "stored b"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert recorder.groups == [["a"], ["b"]]
