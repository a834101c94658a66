"""``dealpulse run``: the whole system on one machine, stopped by Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from dealpulse_cli.bootstrap import DEMO_TENANT, DEMO_WEBHOOK_SECRET
from dealpulse_cli.demo_feed import DemoCrm
from dealpulse_cli.log_rotation import LogRotation
from dealpulse_cli.stack import STACK_ROOT
from dealpulse_cli.supervisor import Supervisor
from dealpulse_cli.system import SeedTenant, running_system

EXTERNAL_ENV = ("KAFKA_BOOTSTRAP", "DATABASE_URL", "REDIS_URL")
RESTART_CHECK_S = 5.0


def run_system(registry: Path, feed: bool, feed_rate: float, rotate_after: int) -> int:
    external = all(os.environ.get(name) for name in EXTERNAL_ENV)
    urls = {name: os.environ[name] for name in (*EXTERNAL_ENV, "DATABASE_ADMIN_URL") if name in os.environ}
    with running_system(urls=urls if external else None, registry=registry, log_dir=STACK_ROOT / "logs",
                        tenant=SeedTenant(DEMO_TENANT, "Demo Inc.", DEMO_WEBHOOK_SECRET), say=_say) as system:
        _print_welcome(system.supervisor)
        # A real Kafka enforces retention; the embedded broker does not, so its logs are emptied once read.
        rotation = (None if system.stack is None else
                    LogRotation(system.stack.kafka_bootstrap, system.supervisor, rotate_after, say=_say))
        asyncio.run(_until_interrupted(system.supervisor, feed, feed_rate, rotation))
    return 0


def _say(line: str) -> None:
    print(line, flush=True)


async def _until_interrupted(supervisor: Supervisor, feed: bool, feed_rate: float,
                             rotation: LogRotation | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    crm = DemoCrm(supervisor.url("ingest"), DEMO_TENANT, DEMO_WEBHOOK_SECRET) if feed else None
    background = [asyncio.create_task(_restart_exited(supervisor, stop))]
    if rotation is not None:
        background.append(asyncio.create_task(rotation.keep_short(stop, crm)))
    if crm is not None:
        await crm.run(initial_deals=200, rate_per_s=feed_rate, stop=stop)
    await stop.wait()
    await asyncio.gather(*background)


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
