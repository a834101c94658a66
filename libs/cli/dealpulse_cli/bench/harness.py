"""A whole system started for a benchmark, on its own ports and data, torn down afterwards."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

from dealpulse_cli.bootstrap import ensure_model, ensure_tenant, prepare_database
from dealpulse_cli.stack import EmbeddedStack, StackPorts
from dealpulse_cli.supervisor import Supervisor

BENCH_PORT_OFFSET = 2000


@dataclass
class BenchSystem:
    stack: EmbeddedStack
    supervisor: Supervisor

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each service process has used so far."""
        result = {}
        for name, process in self.supervisor.processes.items():
            try:
                times = psutil.Process(process.pid).cpu_times()
                result[name] = times.user + times.system
            except psutil.NoSuchProcess:
                result[name] = float("nan")
        return result

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of each service process, MB."""
        result = {}
        for name, process in self.supervisor.processes.items():
            try:
                result[name] = psutil.Process(process.pid).memory_info().rss / 1e6
            except psutil.NoSuchProcess:
                result[name] = float("nan")
        return result


@contextmanager
def bench_system(tenant_id: str, secret: str) -> Iterator[BenchSystem]:
    stack = EmbeddedStack(name="bench", ports=StackPorts.offset(BENCH_PORT_OFFSET), fresh=True)
    supervisor = None
    try:
        stack.start()
        asyncio.run(prepare_database(stack.admin_database_url))
        asyncio.run(ensure_tenant(stack.admin_database_url, tenant_id, "Bench", secret))
        registry = stack.root / "models"
        ensure_model(registry)
        supervisor = Supervisor(env={**stack.env(), "DEALPULSE_MODEL_REGISTRY": str(registry), "LOG_LEVEL": "WARNING"},
                                log_dir=stack.root / "logs", port_offset=BENCH_PORT_OFFSET)
        supervisor.start_all(timeout=90)
        yield BenchSystem(stack, supervisor)
    finally:
        if supervisor is not None:
            supervisor.stop_all()
        stack.stop()
        shutil.rmtree(stack.root, ignore_errors=True)
