"""Money in the analytics: amounts per currency, never summed across currencies, plus the tenant's reporting
currency converted at the rates the tenant configured (shown with the figure). A currency without a rate is
reported as not convertible and left out of the converted amount, which then says it is incomplete.

The rates live in ``tenant_settings.settings['reporting']`` (``ReportingSettings``); the gateway is their one writer
(``PUT /v1/admin/reporting``) and one reader. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

SETTINGS_KEY = "reporting"
DEFAULT_CURRENCY = "USD"  # a canonical deal's currency when its CRM names none

_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")


def _currency_code(value: str) -> str:
    code = value.strip().upper()
    if not _CURRENCY_CODE.match(code):
        raise ValueError("a currency is a three-letter ISO 4217 code such as USD or EUR")
    return code


CurrencyCode = Annotated[str, AfterValidator(_currency_code)]
Rate = Annotated[float, Field(gt=0, lt=1e9, allow_inf_nan=False)]


class ForecastWeights(BaseModel):
    """How much of a deal's amount a forecast counts, by the call made on it (the rep's or the AI's)."""

    model_config = ConfigDict(extra="forbid")

    pipeline: float = Field(0.1, ge=0, le=1)
    best_case: float = Field(0.5, ge=0, le=1)
    commit: float = Field(0.9, ge=0, le=1)


class ReportingSettings(BaseModel):
    """The tenant's reporting currency and conversion rates: ``rates[X]`` is how many units of ``currency`` one
    unit of X is worth (EUR: 1.08 with a USD reporting currency)."""

    model_config = ConfigDict(extra="forbid")

    currency: CurrencyCode = DEFAULT_CURRENCY
    rates: dict[CurrencyCode, Rate] = Field(default_factory=dict, max_length=200)
    rates_as_of: date | None = Field(None, description="When the rates were taken (shown with every figure)")
    forecast_weights: ForecastWeights = Field(default_factory=ForecastWeights)

    def rate(self, currency: str) -> float | None:
        if currency == self.currency:
            return 1.0
        return self.rates.get(currency)


class CurrencyAmount(BaseModel):
    amount: float
    deals: int = Field(description="How many deals this amount rests on")


class Converted(BaseModel):
    """A figure in the reporting currency: only the currencies with a rate are in ``amount``."""

    currency: str
    amount: float
    complete: bool = Field(description="False when some currency had no rate (see not_convertible)")
    rates: dict[str, float] = Field(description="The rates used: units of the reporting currency per unit")
    rates_as_of: date | None
    not_convertible: dict[str, float] = Field(description="Amounts in their own currency that have no rate")


class Money(BaseModel):
    deals: int = Field(description="How many deals the figure rests on")
    scored_recently_pct: float | None = Field(
        None, description="Share of those deals scored within the staleness window (14 days), %")
    by_currency: dict[str, CurrencyAmount]
    reporting: Converted


def money(amounts: Mapping[str, CurrencyAmount], reporting: ReportingSettings, *,
          scored_recently: int | None = None) -> Money:
    """A figure from its per-currency amounts; currencies whose amount rests on no deal are left out."""
    present = {currency: value for currency, value in sorted(amounts.items()) if value.deals or value.amount}
    deals = sum(value.deals for value in present.values())
    return Money(deals=deals, scored_recently_pct=pct(scored_recently, deals) if scored_recently is not None else None,
                 by_currency={c: CurrencyAmount(amount=round(v.amount, 2), deals=v.deals) for c, v in present.items()},
                 reporting=convert({c: v.amount for c, v in present.items()}, reporting))


def convert(amounts: Mapping[str, float], reporting: ReportingSettings) -> Converted:
    converted, used, missing = 0.0, {}, {}
    for currency, amount in amounts.items():
        rate = reporting.rate(currency)
        if rate is None:
            missing[currency] = round(amount, 2)
            continue
        converted += amount * rate
        used[currency] = rate
    return Converted(currency=reporting.currency, amount=round(converted, 2), complete=not missing, rates=used,
                     rates_as_of=reporting.rates_as_of, not_convertible=missing)


class MoneyChange(BaseModel):
    by_currency: dict[str, float] = Field(description="Now minus then, per currency")
    reporting: float | None = Field(description="Now minus then in the reporting currency; None unless both are "
                                                "complete")


def change(now: Money, then: Money) -> MoneyChange:
    currencies = sorted(set(now.by_currency) | set(then.by_currency))
    by_currency = {c: round(_amount(now, c) - _amount(then, c), 2) for c in currencies}
    complete = now.reporting.complete and then.reporting.complete
    return MoneyChange(by_currency=by_currency,
                       reporting=round(now.reporting.amount - then.reporting.amount, 2) if complete else None)


def _amount(figure: Money, currency: str) -> float:
    found = figure.by_currency.get(currency)
    return found.amount if found else 0.0


def single_currency_total(figure: Money) -> float | None:
    """The figure as one number when it is in one currency (0 when it has none); None across currencies."""
    if len(figure.by_currency) > 1:
        return None
    return next(iter(figure.by_currency.values())).amount if figure.by_currency else 0.0


def pct(part: float | None, whole: float | None) -> float | None:
    """``part`` as a percentage of ``whole``, one decimal; None when there is no whole to speak of."""
    if part is None or not whole:
        return None
    return round(100.0 * part / whole, 1)
