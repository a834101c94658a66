"""The Faust side of the stream-framework benchmark: one agent, latencies written to a file when done."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import faust

app = faust.App(
    "bench-faust",
    broker=f"kafka://{os.environ.get('BENCH_BOOTSTRAP', '127.0.0.1:19092')}",
    datadir=os.environ.get("BENCH_DATADIR", "/tmp/bench-faust"),
    # The settings that work on the embedded broker (faust's 60/60/3 stall every join for ~30 s).
    broker_session_timeout=4,
    broker_rebalance_timeout=4,
    broker_heartbeat_interval=1,
    producer_max_batch_size=64,
    consumer_auto_offset_reset="latest",
    web_enabled=False,
)
topic = app.topic(os.environ.get("BENCH_TOPIC", "bench.hop.faust"), value_serializer="raw")
expected = int(os.environ.get("BENCH_MESSAGES", "2000"))
latencies: list[float] = []


@app.agent(topic)
async def hop(stream):  # type: ignore[no-untyped-def]
    async for value in stream:
        message = json.loads(value)
        if message["n"] < 0:  # warm-up: the agent owns its partitions and receives
            Path(os.environ.get("BENCH_DATADIR", "/tmp")).joinpath("ready").touch()
            continue
        latencies.append((time.time() - message["sent"]) * 1000)
        if len(latencies) == expected:
            Path(os.environ["BENCH_OUT"]).write_text(json.dumps(latencies))  # noqa: ASYNC240 - once, at the end


if __name__ == "__main__":
    app.main()
