"""Which token mode a service runs in, what each needs, and the quotas it is given: refused at start when wrong."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dealpulse_common.auth import JwksTokens, SharedSecretTokens, token_verifier
from dealpulse_gateway.settings import GatewaySettings
from dealpulse_ingest.settings import IngestSettings
from tests.support import PRODUCTION_AUTH_ENV


def _production(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    monkeypatch.setenv("DEALPULSE_ENV", "production")
    for name, value in {**PRODUCTION_AUTH_ENV, **overrides}.items():
        monkeypatch.setenv(name, value)


def test_development_verifies_shared_secret_tokens() -> None:
    assert isinstance(token_verifier(GatewaySettings()), SharedSecretTokens)


def test_production_verifies_the_identity_providers_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch)
    verifier = token_verifier(GatewaySettings())
    assert isinstance(verifier, JwksTokens)
    assert verifier.policy.issuer == PRODUCTION_AUTH_ENV["DEALPULSE_JWT_ISSUER"]
    assert verifier.policy.audience == PRODUCTION_AUTH_ENV["DEALPULSE_JWT_AUDIENCE"]
    assert verifier.policy.algorithms == ("RS256", "ES256")


def test_production_refuses_development_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch, DEALPULSE_AUTH_MODE="hs256")
    with pytest.raises(ValidationError, match="must be jwks"):
        GatewaySettings()


def test_production_needs_a_service_secret_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch)
    monkeypatch.delenv("DEALPULSE_SERVICE_SECRET")
    with pytest.raises(ValidationError, match="DEALPULSE_SERVICE_SECRET"):
        GatewaySettings()


@pytest.mark.parametrize("missing", ["DEALPULSE_JWKS_URL", "DEALPULSE_JWT_ISSUER", "DEALPULSE_JWT_AUDIENCE"])
def test_jwks_mode_needs_its_url_issuer_and_audience(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    _production(monkeypatch)
    monkeypatch.delenv(missing)
    with pytest.raises(ValidationError, match="needs DEALPULSE_JWKS_URL"):
        GatewaySettings()


@pytest.mark.parametrize("algorithms", ["HS256", "RS256,HS256", "none", ""])
def test_only_asymmetric_algorithms_are_accepted(monkeypatch: pytest.MonkeyPatch, algorithms: str) -> None:
    monkeypatch.setenv("DEALPULSE_JWT_ALGORITHMS", algorithms)
    with pytest.raises(ValidationError, match="DEALPULSE_JWT_ALGORITHMS"):
        GatewaySettings()


def test_quotas_are_settings_of_each_service(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (GatewaySettings().rate_limit_per_user, GatewaySettings().rate_limit_per_tenant) == (
        "100/minute", "1000/minute")
    monkeypatch.setenv("GATEWAY_RATE_LIMIT_PER_USER", "5 per 10 seconds")
    monkeypatch.setenv("INGEST_RATE_LIMIT_WEBHOOKS_PER_TENANT", "9000/minute")
    assert GatewaySettings().rate_limit_per_user == "5 per 10 seconds"
    assert IngestSettings().rate_limit_per_user == "100/minute"
    assert IngestSettings().rate_limit_webhooks_per_tenant == "9000/minute"


@pytest.mark.parametrize("quota", ["lots", "100/fortnight", "-1/minute"])
def test_a_malformed_quota_is_refused_at_start(monkeypatch: pytest.MonkeyPatch, quota: str) -> None:
    monkeypatch.setenv("GATEWAY_RATE_LIMIT_PER_TENANT", quota)
    with pytest.raises(ValidationError, match=r"(?i)rate_limit_per_tenant"):
        GatewaySettings()
