"""Which stream framework for a latency-critical hop: one produce → consume hop on the embedded broker.

Plain aiokafka (our consumer settings) against a faust-streaming agent with the settings that work on the
embedded broker (short sessions, small producer batches). The same load for both: ``messages`` at ``rate``/s.
The Faust worker runs in its own process, as it would in production, and reports its latencies in a file.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

AIOKAFKA_TOPIC = "bench.hop.aiokafka"
FAUST_TOPIC = "bench.hop.faust"


async def _create_topics(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1)
                                   for t in (AIOKAFKA_TOPIC, FAUST_TOPIC)])
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, messages: int, rate: float) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        started = time.perf_counter()
        for n in range(messages):
            payload = json.dumps({"n": n, "sent": time.time()}).encode()
            await producer.send(topic, payload, key=str(n % 97).encode())
            delay = started + (n + 1) / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await producer.flush()
    finally:
        await producer.stop()


async def measure_aiokafka(bootstrap: str, messages: int, rate: float) -> list[float]:
    consumer = AIOKafkaConsumer(AIOKAFKA_TOPIC, bootstrap_servers=bootstrap, group_id="bench-aiokafka",
                                auto_offset_reset="latest", fetch_max_wait_ms=5, session_timeout_ms=3000,
                                heartbeat_interval_ms=300)
    await consumer.start()
    latencies: list[float] = []
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        producing = asyncio.create_task(_produce(bootstrap, AIOKAFKA_TOPIC, messages, rate))
        deadline = time.monotonic() + messages / rate + 30
        while len(latencies) < messages and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.time()
            latencies += [(now - json.loads(r.value)["sent"]) * 1000 for rs in batch.values() for r in rs]
        await producing
    finally:
        await consumer.stop()
    return latencies


def measure_faust(bootstrap: str, messages: int, rate: float) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "latencies.json"
        worker = subprocess.Popen(
            [sys.executable, "-m", "dealpulse_cli.bench.faust_agent", "worker", "-l", "warn", "--without-web"],
            env={"BENCH_BOOTSTRAP": bootstrap, "BENCH_TOPIC": FAUST_TOPIC, "BENCH_OUT": str(out),
                 "BENCH_MESSAGES": str(messages), "BENCH_DATADIR": folder, **_inherited_env()},
            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            asyncio.run(_warm_up(bootstrap, Path(folder) / "ready"))
            asyncio.run(_produce(bootstrap, FAUST_TOPIC, messages, rate))
            deadline = time.monotonic() + 30
            while not out.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            return list(json.loads(out.read_text())) if out.exists() else []
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()


async def _warm_up(bootstrap: str, ready: Path, timeout_s: float = 90.0) -> None:
    """Send warm-up messages to every partition until the worker has joined its group and receives."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not ready.exists():  # noqa: ASYNC240 - a stat every half second
            if time.monotonic() > deadline:
                raise RuntimeError("the faust worker never received a warm-up message")
            for partition in range(3):
                await producer.send(FAUST_TOPIC, json.dumps({"n": -1, "sent": time.time()}).encode(),
                                    partition=partition)
            await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)  # let a rebalance triggered by the join settle
    finally:
        await producer.stop()


def compare(bootstrap: str, messages: int = 2_000, rate: float = 200.0) -> dict[str, dict[str, float]]:
    asyncio.run(_create_topics(bootstrap))
    results = {"aiokafka": asyncio.run(measure_aiokafka(bootstrap, messages, rate)),
               "faust-streaming": measure_faust(bootstrap, messages, rate)}
    return {name: _summary(values, messages) for name, values in results.items()}


def _summary(values: list[float], expected: int) -> dict[str, float]:
    if not values:
        return {"received": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    array = np.asarray(values)
    return {"received": len(values), "expected": expected,
            **{f"p{q}": float(np.percentile(array, q)) for q in (50, 95, 99)}}


def _inherited_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
