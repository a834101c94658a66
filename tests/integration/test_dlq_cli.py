"""``dealpulse dlq list | show | replay`` against the real broker: what an operator sees, and a replay that lands once.

Needs the ``system`` fixture (tests/conftest.py). Every command is filtered by the test's own tenant, so letters of
other tests on the shared ``dlq.v1`` are never listed or replayed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess

from dealpulse_cli.dlq import REPLAY_HEADER
from dealpulse_common.events import DeadLetter
from dealpulse_common.kafka import read_whole_topic
from dealpulse_common.resilience import dead_letter_for
from dealpulse_common.settings import ServiceSettings
from dealpulse_common.topics import DEAD_LETTERS, DEAL_CHANGED, DEAL_SCORED
from tests import events
from tests.support import RunningSystem, Tenant, poll_until, run_cli

FIXED_CAUSE = "the tenant's stage mapping was missing"  # stands for any cause an operator fixes before replaying


async def dlq(system: RunningSystem, *args: str) -> subprocess.CompletedProcess[str]:
    result = await asyncio.to_thread(run_cli, "dlq", *args, env={"KAFKA_BOOTSTRAP": system.stack.kafka_bootstrap},
                                     timeout=60)
    assert result.returncode == 0, result.stderr
    return result


async def test_list_show_and_replay_select_by_topic_reason_and_time_and_a_second_replay_changes_nothing(
        system: RunningSystem) -> None:
    # Given a change the scorer dead-lettered for a cause since fixed, a score verdict dead-lettered, and bytes on
    # the same partition as the change that no consumer can parse
    tenant = await system.new_tenant("dlq")
    key = f"{tenant.tenant_id}:D-replay"
    change = events.changed(tenant.tenant_id, "D-replay", source_event_id="dlq-1")
    stored_letter = dead_letter_for(change, DEAL_CHANGED, "scorer", ValueError(FIXED_CAUSE)).event
    score = events.scored(tenant.tenant_id, "D-other")
    other_topic = dead_letter_for(score, DEAL_SCORED, "verdict", ValueError(FIXED_CAUSE)).event
    await system.publish(DEAD_LETTERS, [stored_letter, other_topic])
    garbage = b"\x00\xffnot an event"
    await system.publish_bytes(DEAL_CHANGED, key, [garbage])
    unparsed = await _letters(system, tenant, "cannot parse", expected=1)

    # When the operator lists them by topic, by reason and by time
    listed = await dlq(system, "list", "--tenant", tenant.tenant_id, "--topic", DEAL_CHANGED.name, "--since", "10m")
    assert stored_letter.id in listed.stdout and unparsed[0].id in listed.stdout
    assert other_topic.id not in listed.stdout
    by_reason = await dlq(system, "list", "--tenant", tenant.tenant_id, "--reason", "CANNOT PARSE", "--since", "2h")
    assert stored_letter.id not in by_reason.stdout and unparsed[0].id in by_reason.stdout
    future = await dlq(system, "list", "--tenant", tenant.tenant_id, "--since", "2099-01-01T00:00:00")
    assert future.stdout.strip() == "0 dead letter(s)"

    # Then show prints a whole letter with its original decoded
    shown = json.loads((await dlq(system, "show", stored_letter.id)).stdout)
    assert shown["data"]["error"] == f"ValueError: {FIXED_CAUSE}"
    assert shown["original"]["id"] == change.id and shown["original"]["dealid"] == "D-replay"

    # When a dry run is asked for, it names the letters and sends nothing; then the replay sends them
    select = ("--tenant", tenant.tenant_id, "--topic", DEAL_CHANGED.name, "--service", "scorer", "--since", "10m")
    dry = await dlq(system, "replay", *select, "--dry-run")
    assert "would replay 2 of 2 dead letter(s)" in dry.stdout
    replayed = await dlq(system, "replay", *select)
    assert "replayed 2 of 2 dead letter(s)" in replayed.stdout

    # Then the fixed change is scored and judged, and the garbage is dead-lettered again (behind the change)
    await poll_until(lambda: system.has_rows("verdicts", tenant, 1), timeout=30)
    await _letters(system, tenant, "cannot parse", expected=2)

    # When it is replayed a second time, the scorer gets past it (the garbage behind it is dead-lettered a third
    # time) and nothing more is stored
    await dlq(system, "replay", *select, "--id", stored_letter.id, "--id", unparsed[0].id)
    await _letters(system, tenant, "cannot parse", expected=3)
    assert await system.count_rows("risk_scores", tenant) == 1
    assert await system.count_rows("verdicts", tenant) == 1

    # And each replay put the original bytes back on the topic under their key, marked, and the dry run nothing
    records = await _replayed_records(system, key)
    originals = {stored_letter.id: change.to_bytes(), unparsed[0].id: garbage}
    assert sorted(letter_id for letter_id, _ in records) == sorted([*originals, *originals])
    assert all(value == originals[letter_id] for letter_id, value in records)


async def _letters(system: RunningSystem, tenant: Tenant, reason: str, expected: int) -> list[DeadLetter]:
    """The scorer's letters of the tenant whose error says ``reason``, once ``expected`` of them are there."""
    letters = await system.read_topic(DEAD_LETTERS, expected, lambda letter: letter.tenantid == tenant.tenant_id
                                      and letter.data.service == "scorer" and reason in letter.data.error)
    assert len(letters) == expected, [letter.id for letter in letters]
    return letters


async def _replayed_records(system: RunningSystem, key: str) -> list[tuple[str, bytes]]:
    """(letter id of the replay header, value) of every record under ``key`` on the topic that carries the header."""
    settings = ServiceSettings(kafka_bootstrap=system.stack.kafka_bootstrap)
    return [(dict(r.headers)[REPLAY_HEADER].decode(), r.value or b"")
            for r in await read_whole_topic(settings, DEAL_CHANGED)
            if r.key == key.encode() and REPLAY_HEADER in dict(r.headers)]
