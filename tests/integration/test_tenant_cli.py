"""``dealpulse tenant create | list | show | rotate-secret | disable`` as an operator runs them (a subprocess
against the running gateway): the secret is printed by create and rotate-secret only, a refusal is exit code 2
with the gateway's reason, an unreachable gateway exit code 1."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from tests.support import RunningSystem

DEALPULSE = Path(sys.executable).parent / "dealpulse"
SECRET_LINE = re.compile(r"webhook secret \(shown once, keep it now\): (\S+)")


def _tenant(system: RunningSystem, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEALPULSE_GATEWAY_URL": url or system.url("gateway")}
    env.pop("DEALPULSE_TOKEN", None)
    return subprocess.run([str(DEALPULSE), "tenant", *args], env=env, capture_output=True, text=True, timeout=60)


def test_the_tenant_commands_onboard_rotate_and_disable_printing_a_secret_only_when_made(
        system: RunningSystem) -> None:
    tenant_id = f"cli-{uuid.uuid4().hex[:10]}"
    created = _tenant(system, "create", tenant_id, "--name", "CLI Corp")
    assert created.returncode == 0, created.stderr
    [secret] = SECRET_LINE.findall(created.stdout)
    shown, listed = _tenant(system, "show", tenant_id), _tenant(system, "list")
    assert f"{tenant_id}\tCLI Corp\tenabled" in shown.stdout and tenant_id in listed.stdout
    assert secret not in shown.stdout + listed.stdout and "webhook secret" not in shown.stdout + listed.stdout

    rotated = _tenant(system, "rotate-secret", tenant_id, "--overlap", "60")
    assert rotated.returncode == 0, rotated.stderr
    [new_secret] = SECRET_LINE.findall(rotated.stdout)
    assert new_secret != secret and "the previous webhook secret works until" in rotated.stdout

    disabled = _tenant(system, "disable", tenant_id, "--json")
    assert disabled.returncode == 0 and '"disabled": true' in disabled.stdout, disabled.stderr

    again = _tenant(system, "create", tenant_id, "--name", "CLI Corp")
    assert again.returncode == 2 and "refused (409)" in again.stderr and "exists" in again.stderr
    away = _tenant(system, "list", url="http://127.0.0.1:9")
    assert away.returncode == 1 and "cannot reach the gateway" in away.stderr
