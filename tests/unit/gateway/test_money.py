"""Money in the analytics: per currency, converted only where the tenant gave a rate, never summed across."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dealpulse_gateway.money import CurrencyAmount, ReportingSettings, change, money, single_currency_total

REPORTING = ReportingSettings(currency="USD", rates={"EUR": 1.1})


def _money(**amounts: tuple[float, int]) -> object:
    return money({c: CurrencyAmount(amount=a, deals=n) for c, (a, n) in amounts.items()}, REPORTING)


def test_amounts_stay_per_currency_and_convert_at_the_tenants_rates() -> None:
    figure = _money(USD=(1_000.0, 2), EUR=(500.0, 1))

    assert figure.deals == 3
    assert {c: (v.amount, v.deals) for c, v in figure.by_currency.items()} == {"EUR": (500.0, 1), "USD": (1_000.0, 2)}
    assert figure.reporting.amount == 1_550.0 and figure.reporting.complete
    assert figure.reporting.rates == {"USD": 1.0, "EUR": 1.1} and figure.reporting.not_convertible == {}


def test_a_currency_without_a_rate_is_not_convertible_and_never_silently_summed() -> None:
    figure = _money(USD=(1_000.0, 1), JPY=(2_000_000.0, 4))

    assert figure.reporting.amount == 1_000.0
    assert figure.reporting.complete is False and figure.reporting.not_convertible == {"JPY": 2_000_000.0}
    assert figure.by_currency["JPY"].amount == 2_000_000.0


def test_currencies_no_deal_rests_on_are_left_out() -> None:
    figure = _money(USD=(0.0, 0), EUR=(0.0, 2))

    assert list(figure.by_currency) == ["EUR"] and figure.deals == 2


def test_the_share_scored_recently_rests_on_the_figures_deals() -> None:
    figure = money({"USD": CurrencyAmount(amount=10.0, deals=4)}, REPORTING, scored_recently=3)

    assert figure.scored_recently_pct == 75.0


def test_a_change_is_per_currency_and_converted_only_when_both_sides_are_complete() -> None:
    now, then = _money(USD=(1_000.0, 1), EUR=(100.0, 1)), _money(USD=(400.0, 1))
    assert change(now, then).by_currency == {"USD": 600.0, "EUR": 100.0}
    assert change(now, then).reporting == pytest.approx(710.0)
    assert change(_money(JPY=(1.0, 1)), then).reporting is None


def test_one_number_only_when_one_currency() -> None:
    assert single_currency_total(_money(USD=(5.0, 1))) == 5.0
    assert single_currency_total(_money()) == 0.0
    assert single_currency_total(_money(USD=(5.0, 1), EUR=(1.0, 1))) is None


def test_reporting_settings_take_iso_codes_and_positive_rates() -> None:
    assert ReportingSettings(currency=" eur ", rates={"usd": 0.9}).model_dump()["rates"] == {"USD": 0.9}
    for bad in ({"currency": "EURO"}, {"rates": {"GBP": 0}}, {"rates": {"GBP": float("inf")}},
                {"forecast_weights": {"commit": 2}}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            ReportingSettings.model_validate(bad)
