"""The embedded stack and all five services, started once per test run and always torn down.

Unit tests (tests/unit) never touch it: the session fixture starts only when a test asks for ``system``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dealpulse_cli.stack import STACK_ROOT
from dealpulse_cli.system import running_system
from tests.support import RunningSystem

# The local Slack fake and SMTP server fixtures (``slack``, ``smtp``) of the alert delivery tests.
pytest_plugins = ["tests.alert_fakes"]

# Test ports sit 1000 above the defaults so a developer's `make run` can keep running beside the suite.
TEST_PORT_OFFSET = int(os.environ.get("DEALPULSE_TEST_PORT_OFFSET", "1000"))
TEST_MODEL_DEALS = 6_000


@pytest.fixture(scope="session")
def system(request: pytest.FixtureRequest) -> Iterator[RunningSystem]:
    from tests.alert_fakes import SLACK_API_PORT  # a plugin of this conftest: imported once it is registered

    name = f"test-{os.getpid()}"
    failed = True

    def print_logs_if_failed() -> None:
        if failed:
            # Past capture: output of a session fixture's teardown is otherwise shown only if the last test failed.
            capture = request.config.pluginmanager.getplugin("capturemanager")
            with capture.global_and_fixture_disabled():
                _print_logs(STACK_ROOT / name / "logs")

    env = {# Fast group rebalances on the embedded broker (see docs/ARCHITECTURE.md).
           "KAFKA_SESSION_TIMEOUT_MS": "3000", "KAFKA_HEARTBEAT_INTERVAL_MS": "300",
           # An import whose ingest process died is reported failed after this long without a heartbeat
           # (progress is flushed every second) rather than the production minute.
           "INGEST_IMPORT_STALE_AFTER_S": "10",
           # Alert delivery against the local Slack fake (tests/alert_fakes.py), with short retries and schedules.
           "ALERTS_SLACK_API_URL": f"http://127.0.0.1:{SLACK_API_PORT + TEST_PORT_OFFSET}/api/",
           "ALERTS_DELIVERY_BACKOFF_BASE_S": "0.3", "ALERTS_DELIVERY_MAX_ATTEMPTS": "4",
           "ALERTS_SCHEDULE_INTERVAL_S": "1",
           # The gateway looks for tenants without today's pipeline snapshot every 2 s rather than every 5 minutes.
           "GATEWAY_SNAPSHOT_INTERVAL_S": "2"}
    with running_system(stack_name=name, port_offset=TEST_PORT_OFFSET, fresh=True, env=env,
                        model_deals=TEST_MODEL_DEALS, ready_timeout_s=90, remove_data=True,
                        on_stopped=print_logs_if_failed) as running:
        yield RunningSystem(stack=running.require_embedded_stack(), supervisor=running.supervisor,
                            registry=running.registry)
        failed = request.session.testsfailed > 0


def _print_logs(log_dir: Path, lines: int = 60) -> None:
    if not log_dir.exists():
        return
    for log in sorted(log_dir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        sys.stderr.write(f"\n----- last {len(tail)} lines of {log.name} -----\n" + "\n".join(tail) + "\n")
