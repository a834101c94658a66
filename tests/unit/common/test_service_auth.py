"""The credential the gateway presents to the scorer: what it proves, and what it refuses."""

from __future__ import annotations

import time

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


@pytest.mark.parametrize(("token", "reason"), [
    (issue_service_credential("another-secret-also-of-32-bytes-long", caller="gateway", audience="scorer",
                              tenant_id="acme"), "Signature"),
    (issue_service_credential(SECRET, caller="gateway", audience="alerts", tenant_id="acme"), "Audience"),
    (jwt.encode({"iss": "gateway", "aud": "scorer", "tenant_id": "acme", "exp": int(time.time()) - 60}, SECRET,
                algorithm="HS256"), "expired"),
    (jwt.encode({"iss": "gateway", "aud": "scorer", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"),
     "tenant_id"),
    (jwt.encode({"iss": "gateway", "aud": "scorer", "tenant_id": "NOT A TENANT", "exp": int(time.time()) + 60},
                SECRET, algorithm="HS256"), "no tenant"),
    ("not-a-jwt", "invalid"),
])
def test_a_forged_misdirected_expired_or_tenantless_credential_is_refused(token: str, reason: str) -> None:
    with pytest.raises(InvalidServiceCredential, match=reason):
        verify_service_credential(SECRET, token, audience="scorer")
