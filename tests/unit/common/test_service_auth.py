"""The credential the gateway presents to the scorer: what it proves, and what it refuses."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest

from dealpulse_common.service_auth import (
    InvalidServiceCredential,
    ServiceCaller,
    issue_service_credential,
    verify_service_credential,
)

SECRET = "unit-test-service-secret-of-32-bytes!!"


def test_a_credential_names_its_caller_and_tenant() -> None:
    token = issue_service_credential(SECRET, caller="gateway", audience="scorer", tenant_id="acme")
    assert verify_service_credential(SECRET, token, audience="scorer") == ServiceCaller("gateway", "acme")


# Tokens are built when the test runs, not at collection: a credential lives a minute, a loaded run collects longer.
@pytest.mark.parametrize(("make_token", "reason"), [
    (lambda: issue_service_credential("another-secret-also-of-32-bytes-long", caller="gateway", audience="scorer",
                                      tenant_id="acme"), "Signature"),
    (lambda: issue_service_credential(SECRET, caller="gateway", audience="alerts", tenant_id="acme"), "Audience"),
    (lambda: jwt.encode({"iss": "gateway", "aud": "scorer", "tenant_id": "acme", "exp": int(time.time()) - 60},
                        SECRET, algorithm="HS256"), "expired"),
    (lambda: jwt.encode({"iss": "gateway", "aud": "scorer", "exp": int(time.time()) + 60}, SECRET,
                        algorithm="HS256"), "tenant_id"),
    (lambda: jwt.encode({"iss": "gateway", "aud": "scorer", "tenant_id": "NOT A TENANT",
                         "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"), "no tenant"),
    (lambda: "not-a-jwt", "invalid"),
], ids=["forged", "audience", "expired", "tenantless", "bad-tenant", "garbage"])
def test_a_forged_misdirected_expired_or_tenantless_credential_is_refused(
        make_token: Callable[[], str], reason: str) -> None:
    with pytest.raises(InvalidServiceCredential, match=reason):
        verify_service_credential(SECRET, make_token(), audience="scorer")
