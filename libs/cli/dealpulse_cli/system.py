"""Bring the whole system up, and down again: the one start-up ``dealpulse run``, the benchmarks and the tests share.

In order: the embedded stack (or the URLs of a stack already running), the database (role and migrations), a
tenant to seed if asked, an active model, then the five services under a supervisor. Everything that started is
stopped in reverse on the way out, also when the start-up failed half way. Each caller passes only what differs:
ports, a fresh stack, environment overrides, the size of the demo model.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from dealpulse_cli.bootstrap import DEMO_MODEL_DEALS, ensure_model, ensure_tenant, prepare_database
from dealpulse_cli.stack import EmbeddedStack, StackPorts
from dealpulse_cli.supervisor import Supervisor

# Benchmarks and the test suite drive one user and one tenant far past a person's pace: their quotas are lifted
# (the rate-limit tests run a gateway and an ingest of their own with small ones).
LIFTED_QUOTAS = {
    **{f"{service}_RATE_LIMIT_PER_{scope}": "1000000/minute"
       for service in ("GATEWAY", "INGEST", "ALERTS") for scope in ("USER", "TENANT")},
    "INGEST_RATE_LIMIT_WEBHOOKS_PER_TENANT": "1000000/minute",
}


@dataclass(frozen=True)
class SeedTenant:
    tenant_id: str
    name: str
    webhook_secret: str


@dataclass(frozen=True)
class System:
    supervisor: Supervisor
    registry: Path
    stack: EmbeddedStack | None  # None when the system runs on a stack given by its URLs

    def require_embedded_stack(self) -> EmbeddedStack:
        """The embedded stack, for callers that always start one (benchmarks, tests)."""
        if self.stack is None:
            raise RuntimeError("this system runs on a stack given by its URLs, not an embedded one")
        return self.stack


def _silent(_: str) -> None:
    pass


@contextmanager
def embedded_stack(name: str, port_offset: int = 0, *, fresh: bool = False, remove_data: bool = False,
                   on_stopped: Callable[[], None] | None = None,
                   say: Callable[[str], None] = _silent) -> Iterator[EmbeddedStack]:
    """The broker, PostgreSQL and Valkey on their default ports plus ``port_offset``; ``fresh`` starts from empty
    data, ``remove_data`` deletes it once stopped (after ``on_stopped``, which may still read the logs)."""
    stack = EmbeddedStack(name=name, ports=StackPorts.offset(port_offset), fresh=fresh)
    try:
        say(f"starting the embedded stack (broker, PostgreSQL, Valkey) under {stack.root}")
        stack.start()
        yield stack
    finally:
        try:
            stack.stop()
            if on_stopped is not None:
                on_stopped()
        finally:
            if remove_data:
                shutil.rmtree(stack.root, ignore_errors=True)


@contextmanager
def running_system(*, stack_name: str = "dev", port_offset: int = 0, fresh: bool = False,
                   urls: Mapping[str, str] | None = None, registry: Path | None = None, log_dir: Path | None = None,
                   env: Mapping[str, str] | None = None, model_deals: int = DEMO_MODEL_DEALS,
                   tenant: SeedTenant | None = None, ready_timeout_s: float = 60.0, remove_data: bool = False,
                   on_stopped: Callable[[], None] | None = None,
                   say: Callable[[str], None] = _silent) -> Iterator[System]:
    """The whole system, up until the ``with`` block ends.

    ``urls`` (``KAFKA_BOOTSTRAP``, ``DATABASE_URL``, ``REDIS_URL``, optionally ``DATABASE_ADMIN_URL``) names a
    stack already running, and then ``registry`` and ``log_dir`` are needed; without them the embedded stack
    ``stack_name`` starts (see ``embedded_stack`` for ``fresh``, ``remove_data`` and ``on_stopped``), holding the
    registry and logs unless told otherwise. ``env`` is added to every service's environment; ``say`` is told of
    progress (``dealpulse run`` prints it).
    """
    started = ExitStack()
    try:
        stack: EmbeddedStack | None = None
        if urls is None:
            stack = started.enter_context(embedded_stack(stack_name, port_offset, fresh=fresh, remove_data=remove_data,
                                                         on_stopped=on_stopped, say=say))
            stack_env = stack.env()
            registry, log_dir = registry or stack.root / "models", log_dir or stack.root / "logs"
        elif registry is None or log_dir is None:
            raise ValueError("a system on a stack given by its URLs needs an explicit registry and log_dir")
        else:
            stack_env = dict(urls)
        version = _prepare(stack_env, registry, model_deals, tenant)
        say(f"active model: {version}")
        supervisor = Supervisor(env={**stack_env, "DEALPULSE_MODEL_REGISTRY": str(registry), **(env or {})},
                                log_dir=log_dir, port_offset=port_offset)
        started.callback(supervisor.stop_all)
        supervisor.start_all(timeout=ready_timeout_s)
        yield System(supervisor=supervisor, registry=registry, stack=stack)
    finally:
        say("\nstopping...")
        started.close()


def _prepare(stack_env: Mapping[str, str], registry: Path, model_deals: int, tenant: SeedTenant | None) -> str:
    """Migrate the database, seed the tenant, and return the active model's version (training one if none)."""
    admin_url = stack_env.get("DATABASE_ADMIN_URL") or stack_env["DATABASE_URL"]
    asyncio.run(prepare_database(admin_url, stack_env["DATABASE_URL"]))
    if tenant is not None:
        asyncio.run(ensure_tenant(admin_url, tenant.tenant_id, tenant.name, tenant.webhook_secret))
    return ensure_model(registry, model_deals)
