"""Start, watch and stop the five DealPulse services as child processes (``dealpulse run`` and the tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

DEFAULT_PORTS = {"gateway": 8000, "ingest": 8001, "scorer": 8002, "verdict": 8003, "alerts": 8004}
START_ORDER = ("scorer", "verdict", "alerts", "gateway", "ingest")


@dataclass
class Supervisor:
    env: dict[str, str]
    log_dir: Path
    port_offset: int = 0
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def port(self, service: str) -> int:
        return DEFAULT_PORTS[service] + self.port_offset

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port(service)}"

    def service_env(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        for service in DEFAULT_PORTS:
            env[f"{service.upper()}_PORT"] = str(self.port(service))
        env["GATEWAY_SCORER_URL"] = self.url("scorer")
        env["GATEWAY_ALERTS_URL"] = self.url("alerts")
        return env

    def start(self, service: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{service}.log", "ab")  # noqa: SIM115 - the child writes to it until it exits
        self.processes[service] = subprocess.Popen(
            [sys.executable, "-m", f"dealpulse_{service}"], env=self.service_env(), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    def start_all(self, timeout: float = 60.0) -> None:
        for service in START_ORDER:
            self.start(service)
        self.wait_ready(START_ORDER, timeout)

    def wait_ready(self, services: tuple[str, ...] | list[str], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(services)
        while pending:
            service = pending[0]
            process = self.processes[service]
            if process.poll() is not None:
                raise RuntimeError(f"{service} exited with code {process.returncode}; see {self.log_dir}/{service}.log")
            if is_ready(self.url(service)):
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise RuntimeError(f"{service} not ready within {timeout:.0f} s; see {self.log_dir}/{service}.log")
            time.sleep(0.1)

    def stop(self, service: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        process = self.processes.pop(service, None)
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        process.send_signal(sig)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def restart_exited(self) -> list[tuple[str, int]]:
        """Start again every service whose process has exited, as Kubernetes would restart a pod; returns each
        restarted service with its exit code. A service stopped with ``stop`` is not watched any more."""
        restarted = []
        for service, process in list(self.processes.items()):
            code = process.poll()
            if code is not None:
                self.start(service)
                restarted.append((service, code))
        return restarted

    def freeze(self) -> None:
        """Suspend every service (SIGSTOP): it sends nothing and answers nothing until ``thaw``; requests wait in
        their connections, as in a network partition."""
        for process in self.processes.values():
            process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGCONT)

    def stop_all(self) -> None:
        for service in reversed(START_ORDER):
            if service in self.processes:
                self.processes[service].send_signal(signal.SIGTERM)
        for service in list(self.processes):
            self.stop(service)


def is_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
