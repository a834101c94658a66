"""The embedded stack started afresh more than once in one process, as ``dealpulse bench`` does for its sections."""

from __future__ import annotations

import os

import asyncpg

from dealpulse_cli.system import embedded_stack
from tests.conftest import TEST_PORT_OFFSET

# Clear of the suite's own stack (the defaults + TEST_PORT_OFFSET) and of a developer's `make run`.
OWN_PORT_OFFSET = TEST_PORT_OFFSET + 700


async def test_a_fresh_stack_in_the_same_directory_comes_up_again_in_the_same_process() -> None:
    name = f"test-twice-{os.getpid()}"
    for attempt in range(2):
        with embedded_stack(name, OWN_PORT_OFFSET, fresh=True, remove_data=True) as stack:
            # The maintenance database: the application's is created later, by the migrations.
            connection = await asyncpg.connect(stack.admin_database_url.rsplit("/", 1)[0] + "/postgres")
            try:
                assert await connection.fetchval("SELECT 1") == 1, attempt
            finally:
                await connection.close()
