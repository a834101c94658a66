"""The newcomer's walk-through in docs/CRM_WEBHOOKS.md, run as written: a second tenant is created, its HubSpot
app connected and its first signed deal change scored, with the documented commands only (the CLI as a
subprocess, curl and openssl); afterwards no service's log holds any secret of the run."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from dealpulse_common.secrets_at_rest import SecretBox
from dealpulse_common.settings import ServiceSettings
from tests.support import RunningSystem, poll_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs/CRM_WEBHOOKS.md"
SECTION = "## From nothing to a first scored deal"
README_SECTION = "## A tenant of your own"


def _block(document: Path, section: str) -> str:
    text = document.read_text()
    block = re.search(r"^```sh\n(.*?)^```", text[text.index(section):], flags=re.MULTILINE | re.DOTALL)
    assert block, f"{document.name} has no sh block under {section!r}"
    return block[1]


def walkthrough_lines() -> list[str]:
    """The guide's block, one command per entry (continuation lines joined as the shell joins them)."""
    joined = _block(GUIDE, SECTION).replace("\\\n", "")
    return [line for line in re.split(r"\n(?=\S)", joined.strip()) if line.strip()]


def _bash(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PATH": f"{ROOT / '.venv/bin'}:{os.environ['PATH']}"})


def _assignments(system: RunningSystem, tenant_id: str, app_secret: str) -> str:
    """The guide's first line, with this run's ports and tenant instead of `make run`'s and acme."""
    values = {"GATEWAY": system.url("gateway"), "INGEST": system.url("ingest"), "TENANT": tenant_id,
              "APP_SECRET": app_secret}
    return " ".join(f"{name}={shlex.quote(value)}" for name, value in values.items())


def test_the_readme_shows_the_walkthrough_the_guide_explains() -> None:
    assert _block(ROOT / "README.md", README_SECTION) == _block(GUIDE, SECTION)


async def test_a_second_tenant_goes_from_nothing_to_a_scored_deal_with_the_documented_commands(
        system: RunningSystem) -> None:
    first, *commands, see_the_deal = walkthrough_lines()
    assert set(re.findall(r"(\w+)=", first)) == {"GATEWAY", "INGEST", "TENANT", "APP_SECRET"}, first
    tenant_id, app_secret = f"newcomer-{uuid.uuid4().hex[:8]}", f"app-secret-{uuid.uuid4().hex}"
    setup = _assignments(system, tenant_id, app_secret)

    ran = _bash("\n".join([setup, *commands]))
    assert ran.returncode == 0, f"{ran.stdout}\n{ran.stderr}"
    [secret] = re.findall(r"webhook secret \(shown once, keep it now\): (\S+)", ran.stdout)
    connector, batch = _json_documents(ran.stdout)  # curl's answers, one after the other
    assert connector["secrets"] == {"app_secret": True} and app_secret not in ran.stdout, connector
    assert set(batch["counts"]) == {"accepted"}, batch

    token_line = next(c for c in commands if c.startswith("ADMIN="))

    async def scored() -> dict[str, Any] | None:
        shown = _bash("\n".join([setup, token_line, see_the_deal]))
        deal = json.loads(shown.stdout) if shown.returncode == 0 and shown.stdout.startswith("{") else {}
        return deal if deal.get("score") else None

    deal = await poll_until(scored, timeout=45, interval=0.5)
    assert deal["deal"]["name"] == "Acme pilot" and deal["deal"]["amount"] == 48000
    assert 0 <= deal["score"]["risk_score"] <= 100
    _assert_no_secret_in_the_logs(system, [secret, app_secret, *await _every_stored_secret(system)])


def _json_documents(text: str) -> list[Any]:
    decoder, found, at = json.JSONDecoder(), [], text.find("{")
    while at != -1:
        document, end = decoder.raw_decode(text, at)
        found.append(document)
        at = text.find("{", end)
    return found


async def _every_stored_secret(system: RunningSystem) -> list[str]:
    """Every secret the run stored so far, opened with the services' key."""
    box = SecretBox(ServiceSettings().secrets_keys)
    return [box.open(row["sealed"]) for row in await system.admin_fetch("SELECT sealed FROM tenant_secrets")]


def _assert_no_secret_in_the_logs(system: RunningSystem, secrets: list[str]) -> None:
    logs = sorted(system.supervisor.log_dir.glob("*.log"))
    assert {path.stem for path in logs} >= {"ingest", "gateway", "scorer", "verdict", "alerts"}
    for path in logs:
        text = path.read_text(errors="replace")
        leaked = [s[:6] + "…" for s in secrets if s in text]
        assert not leaked, f"{path.name} contains secrets starting {leaked}"
