"""The dashboard address alert links use: a public http(s) address, required outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dealpulse_alerts.settings import AlertsSettings
from tests.support import PRODUCTION_AUTH_ENV


def test_development_links_to_the_local_gateway_on_its_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALERTS_DASHBOARD_URL", raising=False)
    monkeypatch.setenv("GATEWAY_PORT", "9000")
    assert AlertsSettings().dashboard_url == "http://127.0.0.1:9000"


def test_production_needs_a_dashboard_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALERTS_DASHBOARD_URL", raising=False)
    monkeypatch.setenv("DEALPULSE_ENV", "production")
    for name, value in PRODUCTION_AUTH_ENV.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="ALERTS_DASHBOARD_URL must be set"):
        AlertsSettings()
    monkeypatch.setenv("ALERTS_DASHBOARD_URL", "https://deals.example.com/")
    assert AlertsSettings().dashboard_url == "https://deals.example.com/"


@pytest.mark.parametrize("bad", ["deals.example.com", "ftp://deals.example.com", "https://x.example/#deal=1",
                                 "https://x.example/?a=1", "https://"])
def test_a_dashboard_address_is_an_http_url_a_deal_link_can_extend(monkeypatch: pytest.MonkeyPatch,
                                                                   bad: str) -> None:
    monkeypatch.setenv("ALERTS_DASHBOARD_URL", bad)
    with pytest.raises(ValidationError, match="ALERTS_DASHBOARD_URL"):
        AlertsSettings()
