"""``dealpulse migrate`` creates the application role with the password of the Secret's DATABASE_URL, and gives it
the new one when the Secret changes (the role exists by then)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from dealpulse_cli.migrate import ensure_database
from tests.support import RunningSystem


def _scram_matches(verifier: str, password: str) -> bool:
    """Whether PostgreSQL's SCRAM-SHA-256 verifier (``pg_authid.rolpassword``) was made from ``password``."""
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    _, server_key = keys.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    expected = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return method == "SCRAM-SHA-256" and hmac.compare_digest(expected, base64.b64decode(server_key))


async def _verifier(system: RunningSystem, role: str) -> str:
    [row] = await system.admin_fetch("SELECT rolpassword, rolsuper, rolbypassrls FROM pg_authid WHERE rolname = $1",
                                     role)
    assert (row["rolsuper"], row["rolbypassrls"]) == (False, False)
    return str(row["rolpassword"])


async def test_the_role_gets_the_secrets_password_and_the_next_one_after_a_rotation(system: RunningSystem) -> None:
    role = f"dealpulse_test_{uuid.uuid4().hex[:8]}"  # a role of the test's own: the services' role stays as it is
    first, second = "it's-a-first-secret", f"rotated-{uuid.uuid4().hex}"
    try:
        await ensure_database(system.stack.admin_database_url, role, first)
        assert _scram_matches(await _verifier(system, role), first)
        await ensure_database(system.stack.admin_database_url, role, second)
        verifier = await _verifier(system, role)
        assert _scram_matches(verifier, second) and not _scram_matches(verifier, first)
    finally:
        await system.admin_fetch(f'DROP ROLE IF EXISTS "{role}"')
