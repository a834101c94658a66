"""The embedded stack and all five services, started once per test run and always torn down.

Unit tests (tests/unit) never touch it: the session fixture starts only when a test asks for ``system``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dealpulse_cli.bootstrap import ensure_model, prepare_database
from dealpulse_cli.stack import EmbeddedStack, StackPorts
from dealpulse_cli.supervisor import Supervisor
from tests.support import RunningSystem

# Test ports sit 1000 above the defaults so a developer's `make run` can keep running beside the suite.
TEST_PORT_OFFSET = int(os.environ.get("DEALPULSE_TEST_PORT_OFFSET", "1000"))
TEST_MODEL_DEALS = 6_000


@pytest.fixture(scope="session")
def system(request: pytest.FixtureRequest) -> Iterator[RunningSystem]:
    stack = EmbeddedStack(name=f"test-{os.getpid()}", ports=StackPorts.offset(TEST_PORT_OFFSET), fresh=True)
    supervisor: Supervisor | None = None
    failed = True
    try:
        stack.start()
        asyncio.run(prepare_database(stack.admin_database_url))
        registry = stack.root / "models"
        ensure_model(registry, n_deals=TEST_MODEL_DEALS)
        env = {**stack.env(), "DEALPULSE_MODEL_REGISTRY": str(registry),
               # Fast group rebalances on the embedded broker (see docs/ARCHITECTURE.md).
               "KAFKA_SESSION_TIMEOUT_MS": "3000", "KAFKA_HEARTBEAT_INTERVAL_MS": "300",
               # An import whose ingest process died is reported failed after this long without a heartbeat
               # (progress is flushed every second) rather than the production minute.
               "INGEST_IMPORT_STALE_AFTER_S": "10"}
        supervisor = Supervisor(env=env, log_dir=stack.root / "logs", port_offset=TEST_PORT_OFFSET)
        supervisor.start_all(timeout=90)
        yield RunningSystem(stack=stack, supervisor=supervisor, registry=registry)
        failed = request.session.testsfailed > 0
    finally:
        if supervisor is not None:
            supervisor.stop_all()
        stack.stop()
        if failed:
            # Past capture: output of a session fixture's teardown is otherwise shown only if the last test failed.
            capture = request.config.pluginmanager.getplugin("capturemanager")
            with capture.global_and_fixture_disabled():
                _print_logs(stack.root / "logs")
        shutil.rmtree(stack.root, ignore_errors=True)


def _print_logs(log_dir: Path, lines: int = 60) -> None:
    if not log_dir.exists():
        return
    for log in sorted(log_dir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        sys.stderr.write(f"\n----- last {len(tail)} lines of {log.name} -----\n" + "\n".join(tail) + "\n")
