"""A whole system started for a benchmark, on its own ports and data, torn down afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from dealpulse_cli.demo_feed import DemoCrm
from dealpulse_cli.stack import EmbeddedStack
from dealpulse_cli.supervisor import Supervisor
from dealpulse_cli.system import LIFTED_QUOTAS, SeedTenant, running_system

# Every port of a bench system is moved by this much (DEALPULSE_BENCH_PORT_OFFSET), so a bench can run beside a
# development system, a test run or another bench on other offsets; its data directory is its own too (a fresh
# start wipes it).
BENCH_PORT_OFFSET = int(os.environ.get("DEALPULSE_BENCH_PORT_OFFSET", "2000"))
BENCH_STACK = "bench" if BENCH_PORT_OFFSET == 2000 else f"bench-{BENCH_PORT_OFFSET}"


@dataclass
class BenchSystem:
    stack: EmbeddedStack
    supervisor: Supervisor
    registry: Path

    def _pids(self, with_broker: bool) -> dict[str, int]:
        pids = {name: process.pid for name, process in self.supervisor.processes.items()}
        return {"broker": self.stack.broker_pid(), **pids} if with_broker else pids

    def cpu_seconds(self, *, with_broker: bool = False) -> dict[str, float]:
        """CPU time (user + system) each service (and the broker, if asked for) has used so far."""
        return self._read(_cpu_seconds, with_broker)

    def cpu_seconds_everywhere(self) -> dict[str, float]:
        """``cpu_seconds`` of the services and the broker, with PostgreSQL and the whole machine beside them."""
        return {**self.cpu_seconds(with_broker=True), **self._beside_services_cpu_seconds()}

    def _beside_services_cpu_seconds(self) -> dict[str, float]:
        """CPU used so far by PostgreSQL (the postmaster and its backends, live and ended) and by the whole machine
        (every core's busy time: the services, the stack, the load generator and whatever else runs)."""
        postmaster = psutil.Process(int((self.stack.pg_dir / "postmaster.pid").read_text().split()[0]))
        own = postmaster.cpu_times()
        postgres = own.user + own.system + own.children_user + own.children_system
        for backend in postmaster.children():
            with contextlib.suppress(psutil.NoSuchProcess):
                postgres += _cpu_seconds(backend)
        machine = psutil.cpu_times()
        return {"postgres": postgres, "machine": sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)}

    def rss_mb(self, *, with_broker: bool = False) -> dict[str, float]:
        """Resident memory of each process, MB."""
        return self._read(_rss_mb, with_broker)

    def _read(self, reading: Callable[[psutil.Process], float], with_broker: bool) -> dict[str, float]:
        result = {}
        for name, pid in self._pids(with_broker).items():
            try:
                result[name] = reading(psutil.Process(pid))
            except psutil.NoSuchProcess:
                result[name] = float("nan")
        return result


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _rss_mb(process: psutil.Process) -> float:
    return float(process.memory_info().rss / 1e6)


@contextmanager
def bench_system(tenant_id: str, secret: str) -> Iterator[BenchSystem]:
    with running_system(stack_name=BENCH_STACK, port_offset=BENCH_PORT_OFFSET, fresh=True, remove_data=True,
                        tenant=SeedTenant(tenant_id, "Bench", secret), env={"LOG_LEVEL": "WARNING", **LIFTED_QUOTAS},
                        ready_timeout_s=90) as system:
        yield BenchSystem(system.require_embedded_stack(), system.supervisor, system.registry)


async def feed_for(crm: DemoCrm, duration_s: float, rate: float, initial_deals: int,
                   max_cycles: int | None = None) -> float:
    """Run the demo CRM for ``duration_s`` at most (or until ``max_cycles`` replays are done), then stop it; the
    seconds it actually ran."""
    stop = asyncio.Event()
    started = time.monotonic()
    feed = asyncio.create_task(crm.run(initial_deals=initial_deals, rate_per_s=rate, stop=stop,
                                       max_cycles=max_cycles))
    await asyncio.wait({feed}, timeout=duration_s)
    stop.set()
    await feed
    return time.monotonic() - started
