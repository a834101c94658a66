"""A WebSocket client in its own process, so reading the stream never competes with sending the load.

``python -m dealpulse_cli.bench.stream_receiver WS_URL OUT_FILE``: one JSON line per score message with the
score's hop timings and the moment this client received it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import websockets


async def receive(url: str, out: Path) -> None:
    async with websockets.connect(url, max_size=None) as stream:
        (out.parent / (out.name + ".ready")).touch()
        with out.open("a", buffering=1) as sink:
            async for raw in stream:
                client_at = datetime.now(UTC).isoformat()
                message = json.loads(raw)
                if message.get("kind") != "score":
                    continue
                data = message["event"]["data"]
                timing = {**data.get("timing", {}), "gateway_at": message.get("gateway_at"), "client_at": client_at,
                          "bench_sent_at": data["deal"].get("custom", {}).get("bench_sent_at")}
                sink.write(json.dumps({"event_id": data["source_event_id"], "timing": timing}) + "\n")


if __name__ == "__main__":
    asyncio.run(receive(sys.argv[1], Path(sys.argv[2])))
