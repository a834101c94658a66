"""What bounds the soak: the embedded broker's CPU as a topic's log grows, at one steady rate.

One record per batch at ``rate`` messages/s (the demo feed's pace leaves every change a batch of its own on every
topic), each case on a topic of its own on one fresh broker: nobody reading, then one consumer at a 25 ms and at a
100 ms fetch wait. The broker's CPU per window shows whether the cost is the producing, the fetching, or the
fetch wait — the lever the services' settings have.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from dealpulse_cli.bench.harness import BENCH_PORT_OFFSET
from dealpulse_cli.bench.report import write_section
from dealpulse_cli.system import embedded_stack

CASES: dict[str, int | None] = {"nobody reading": None, "one consumer, 25 ms fetch wait": 25,
                                "one consumer, 100 ms fetch wait": 100}
PAYLOAD = b"x" * 1500  # about a scored event's size


@dataclass
class Case:
    name: str
    windows: list[tuple[int, float]] = field(default_factory=list)  # (messages stored at its end, broker CPU share)
    consumed: int = 0  # what the consumer had read when the producing stopped


async def _consume(consumer: AIOKafkaConsumer, case: Case) -> None:
    while True:
        batches = await consumer.getmany(timeout_ms=500)
        case.consumed += sum(len(records) for records in batches.values())


async def _run_case(bootstrap: str, broker: psutil.Process, index: int, rate: float, duration_s: float,
                    window_s: float) -> Case:
    name = list(CASES)[index]
    fetch_wait_ms, case, topic = CASES[name], Case(name), f"bench.broker-log.{index}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    consumer, reader = None, None
    if fetch_wait_ms is not None:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=topic, auto_offset_reset="earliest",
                                    fetch_max_wait_ms=fetch_wait_ms, enable_auto_commit=False)
        await consumer.start()
        reader = asyncio.create_task(_consume(consumer, case))
    try:
        started = time.monotonic()
        mark_at, mark_cpu, sent = started, _cpu_s(broker), 0
        while (now := time.monotonic()) - started < duration_s:
            await producer.send(topic, PAYLOAD, key=str(sent).encode())
            sent += 1
            if now - mark_at >= window_s:
                cpu = _cpu_s(broker)
                case.windows.append((sent, (cpu - mark_cpu) / (now - mark_at)))
                mark_at, mark_cpu = now, cpu
            await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
        await producer.flush()
    finally:
        await producer.stop()
        if reader is not None and consumer is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await consumer.stop()
    return case


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def run_broker_log_bench(report: Path, rate: float = 150.0, duration_s: float = 90.0,
                         window_s: float = 15.0) -> list[Case]:
    with embedded_stack("bench-broker-log", BENCH_PORT_OFFSET, fresh=True, remove_data=True) as stack:
        broker = psutil.Process(stack.broker_pid())
        cases = [asyncio.run(_run_case(stack.kafka_bootstrap, broker, index, rate, duration_s, window_s))
                 for index in range(len(CASES))]
    write_section(report, "broker-log", _markdown(cases, rate, window_s),
                  f"dealpulse bench broker-log  # {rate:g} one-record batches/s for {duration_s:g} s per case")
    return cases


def figures(cases: list[Case]) -> dict[str, float]:
    found: dict[str, float] = {}
    for n, case in enumerate(cases):
        found[f"case{n}.first_window_cpu"] = case.windows[0][1]
        found[f"case{n}.last_window_cpu"] = case.windows[-1][1]
    return found


def summary(cases: list[Case]) -> str:
    return "; ".join(f"{c.name}: broker {c.windows[0][1]:.0%} → {c.windows[-1][1]:.0%} of a core" for c in cases)


def _markdown(cases: list[Case], rate: float, window_s: float) -> str:
    width = max(len(c.windows) for c in cases)
    header = " | ".join(f"{w + 1}" for w in range(width))
    rows = [f"| {c.name} | {c.consumed:,} | " + " | ".join(f"{cpu:.0%} ({stored:,})" for stored, cpu in c.windows)
            + " |" for c in cases]
    return "\n".join([
        f"## Broker: CPU as a topic's log grows, {rate:g} one-record batches/s",
        "",
        f"Each case on a topic of its own (3 partitions, 1.5 KB records, `linger_ms=0`); the broker's CPU share of "
        f"one core in each {window_s:g} s window, with the messages stored by its end. What bounds the soak "
        "(the first section of this file reads it).",
        "",
        f"| case | read | {header} |",
        "| --- | ---: |" + " ---: |" * width,
        *rows,
    ])
