"""``dealpulse run``: the whole system on one machine, stopped by Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from dealpulse_cli.bootstrap import DEMO_TENANT, DEMO_WEBHOOK_SECRET, bootstrap
from dealpulse_cli.demo_feed import DemoCrm
from dealpulse_cli.stack import STACK_ROOT, EmbeddedStack
from dealpulse_cli.supervisor import Supervisor

EXTERNAL_ENV = ("KAFKA_BOOTSTRAP", "DATABASE_URL", "REDIS_URL")
RESTART_CHECK_S = 5.0


def run_system(registry: Path, feed: bool, feed_rate: float) -> int:
    external = all(os.environ.get(name) for name in EXTERNAL_ENV)
    stack = None if external else EmbeddedStack(name="dev")
    supervisor: Supervisor | None = None
    try:
        if stack is not None:
            print("starting the embedded stack (broker, PostgreSQL, Valkey) under", stack.root)
            stack.start()
            env = stack.env()
        else:
            env = {name: os.environ[name] for name in (*EXTERNAL_ENV, "DATABASE_ADMIN_URL") if name in os.environ}
        admin_url = env.get("DATABASE_ADMIN_URL") or env["DATABASE_URL"]
        version = bootstrap(admin_url, registry)
        print(f"active model: {version}")
        supervisor = Supervisor(env={**env, "DEALPULSE_MODEL_REGISTRY": str(registry)}, log_dir=STACK_ROOT / "logs")
        supervisor.start_all()
        _print_welcome(supervisor)
        asyncio.run(_until_interrupted(supervisor, feed, feed_rate))
    finally:
        print("\nstopping...")
        if supervisor is not None:
            supervisor.stop_all()
        if stack is not None:
            stack.stop()
    return 0


async def _until_interrupted(supervisor: Supervisor, feed: bool, feed_rate: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watchdog = asyncio.create_task(_restart_exited(supervisor, stop))
    if feed:
        crm = DemoCrm(supervisor.url("ingest"), DEMO_TENANT, DEMO_WEBHOOK_SECRET)
        await crm.run(initial_deals=200, rate_per_s=feed_rate, stop=stop)
    await stop.wait()
    await watchdog


async def _restart_exited(supervisor: Supervisor, stop: asyncio.Event, every_s: float = RESTART_CHECK_S) -> None:
    """A service that dies is started again (its uncommitted batch is re-delivered to it), at most once per
    ``every_s`` so a service that cannot start does not spin."""
    while not stop.is_set():
        for service, code in supervisor.restart_exited():
            print(f"{service} exited with code {code}; restarted (log: {supervisor.log_dir / service}.log)",
                  flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


def _print_welcome(supervisor: Supervisor) -> None:
    from dealpulse_common.auth import issue_token
    from dealpulse_common.settings import ServiceSettings

    token = issue_token(ServiceSettings().jwt_secret, DEMO_TENANT, "admin", "demo-admin", 24 * 3600)
    print("\nDealPulse is running.")
    print(f"  dashboard:  {supervisor.url('gateway')}/#token={token}")
    print(f"  webhooks:   {supervisor.url('ingest')}/v1/webhooks/generic  (tenant '{DEMO_TENANT}')")
    print(f"  logs:       {supervisor.log_dir}")
    print("Press Ctrl-C to stop everything.\n", flush=True)
