"""Which partition a key falls in, as the producers place it: the re-scorer only touches its own partitions."""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from dealpulse_common.events import partition_key
from dealpulse_common.kafka import Assignment
from dealpulse_common.topics import DEAL_CHANGED


def test_owns_exactly_the_keys_the_default_partitioner_sends_to_held_partitions() -> None:
    held = frozenset({TopicPartition(DEAL_CHANGED.name, 0), TopicPartition(DEAL_CHANGED.name, 2)})
    assignment = Assignment(held, {DEAL_CHANGED.name: 3})
    partitioner = DefaultPartitioner()
    owned = 0
    for n in range(300):
        key = partition_key("acme", f"D-{n}")
        partition = partitioner(key.encode(), [0, 1, 2], [0, 1, 2])
        assert assignment.owns(DEAL_CHANGED, key) is (partition in (0, 2))
        owned += partition in (0, 2)
    assert 150 < owned < 250


def test_owns_nothing_until_the_partition_count_is_known() -> None:
    assignment = Assignment(frozenset({TopicPartition(DEAL_CHANGED.name, 0)}), {})
    assert not assignment.knows(DEAL_CHANGED)
    assert not assignment.owns(DEAL_CHANGED, "acme:D-1")
