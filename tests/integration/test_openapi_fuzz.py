"""Schemathesis over the gateway's and ingest's OpenAPI documents against the running system, with valid
credentials: no answer is a 5xx, and every answer matches the schema its document gives for that status.

The gateway is fuzzed with a token of each role, each role in a tenant of its own; ingest with an admin token for
its imports, and its generic webhook with every generated body signed as the tenant's CRM signs it.
Left out, and why:
- the CRM webhooks (``/v1/webhooks/salesforce|hubspot|pipedrive``): each authenticates in its CRM's own way over
  the exact bytes (a token plus an organization id inside the SOAP body, HubSpot's v3 signature over the URL,
  Pipedrive's basic auth and settings), so a generated request is only ever refused; their parsers are fuzzed by
  hypothesis in tests/unit/ingest instead.
- ``PUT /v1/admin/alert-channels`` and ``POST /v1/admin/alert-channels/test``: generated Slack webhook URLs and SMTP
  hosts would make the alerts service send to arbitrary addresses. Their validation has tests of its own.
Bounded: a few examples per operation and generation mode (positive and negative), a minute or two in all.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from dealpulse_cli.webhook_client import WEBHOOK_PATH, webhook_headers
from tests.support import RunningSystem, Tenant

MAX_EXAMPLES = 8
REPORT_CHARS = 4000
CHECKS = [not_a_server_error, response_schema_conformance]
ALERT_DESTINATIONS = {"PUT /v1/admin/alert-channels", "POST /v1/admin/alert-channels/test"}
CRM_WEBHOOKS = {f"POST /v1/webhooks/{crm}" for crm in ("salesforce", "hubspot", "pipedrive")}
GENERIC_WEBHOOK = f"POST {WEBHOOK_PATH}"

# The run is bounded by its examples (a few hundred requests, a minute or two on a quiet machine); the suite's
# 300 s per test is too tight for the admin, who may call every operation, on a machine others load heavily.
pytestmark = pytest.mark.timeout(900)

Send = Callable[[schemathesis.Case], requests.Response | httpx.Response]


def _fuzz(base_url: str, send: dict[str, Send | None], default: Send) -> list[str]:
    """Every failure of every operation of ``base_url``'s document but those ``send`` maps to None (an empty
    list when all held); each operation is sent by its own sender in ``send``, else by ``default``."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 1, "the document lists no operations"
    failures: list[str] = []
    for operation in operations:
        sender = send.get(operation.label, default)
        if sender is None:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _check(operation, mode, sender)
            except Exception as exc:  # each operation's failure is collected and reported below
                report = "".join(traceback.format_exception(exc))[-REPORT_CHARS:]
                failures.append(f"{operation.label} ({mode.value}): {report}")
    return failures


def _check(operation: schemathesis.APIOperation, mode: GenerationMode, sender: Send) -> None:
    """Generate cases of ``operation`` in ``mode``, send each, and check what came back."""
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def call(case: schemathesis.Case) -> None:
        case.validate_response(sender(case), checks=CHECKS)

    call()


def _with(base_url: str, headers: dict[str, str]) -> Send:
    session = requests.Session()  # kept-alive connections: the run is bounded by requests, not by handshakes
    return lambda case: case.call(base_url=base_url, session=session, headers=headers, timeout=60)


def _signed(base_url: str, tenant: Tenant) -> Send:
    """The generated body sent as the tenant's CRM sends it: serialized, then signed over its exact bytes."""
    def send(case: schemathesis.Case) -> httpx.Response:
        body = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
        generated = {k: str(v) for k, v in (case.headers or {}).items() if k.lower() == "idempotency-key"}
        headers = {**generated, **webhook_headers(tenant.tenant_id, tenant.webhook_secret, body)}
        return httpx.post(f"{base_url}{WEBHOOK_PATH}", content=body, headers=headers, timeout=60)

    return send


@pytest.mark.parametrize("role", ["admin", "manager", "rep"])
async def test_the_gateway_document_holds_for_each_role(system: RunningSystem, role: str) -> None:
    tenant = await system.new_tenant(f"fuzz-{role}")
    token = system.token(tenant, role, f"{role}-fuzz")
    url = system.url("gateway")
    failures = _fuzz(url, dict.fromkeys(ALERT_DESTINATIONS), _with(url, {"Authorization": f"Bearer {token}"}))
    assert not failures, "\n\n".join(failures)


async def test_the_ingest_document_holds_for_imports_and_signed_webhooks(system: RunningSystem) -> None:
    tenant = await system.new_tenant("fuzz-ingest")
    url = system.url("ingest")
    failures = _fuzz(url, {**dict.fromkeys(CRM_WEBHOOKS), GENERIC_WEBHOOK: _signed(url, tenant)},
                     _with(url, system.auth(tenant)))
    assert not failures, "\n\n".join(failures)
