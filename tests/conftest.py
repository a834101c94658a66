"""The embedded stack and all five services, started once per test run and always torn down.

Unit tests (tests/unit) never touch it: the session fixture starts only when a test asks for ``system``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support import RunningSystem, suite_system

# The local Slack fake and SMTP server fixtures (``slack``, ``smtp``) of the alert delivery tests, and the identity
# provider (``identity_provider``) of the production auth tests.
pytest_plugins = ["tests.alert_fakes", "tests.identity_fake"]

# Test ports sit 1000 above the defaults so a developer's `make run` can keep running beside the suite.
TEST_PORT_OFFSET = int(os.environ.get("DEALPULSE_TEST_PORT_OFFSET", "1000"))
TEST_MODEL_DEALS = 6_000


@pytest.fixture(scope="session")
def system(request: pytest.FixtureRequest) -> Iterator[RunningSystem]:
    with suite_system(request, f"test-{os.getpid()}", TEST_PORT_OFFSET, model_deals=TEST_MODEL_DEALS) as running:
        yield running
