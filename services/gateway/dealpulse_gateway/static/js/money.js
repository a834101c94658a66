// A Money figure of the analytics API (gateway money.py): amounts per currency, never summed across currencies,
// plus the reporting currency at the tenant's rates — complete only when every currency had a rate.

import { countOf, formatMoney } from "./format.js";

// One line for the figure: the reporting-currency amount when it covers every currency; the amount itself when
// there is one currency; else "n currencies" (the breakdown says which).
export function moneyHeadline(figure) {
  if (!figure) return "—";
  const currencies = Object.entries(figure.by_currency || {});
  if (figure.reporting?.complete) return formatMoney(figure.reporting.amount, figure.reporting.currency);
  if (currencies.length === 1) return formatMoney(currencies[0][1].amount, currencies[0][0]);
  return `${currencies.length} currencies`;
}

// Per currency, with the deals each rests on; empty when the figure is in one currency only.
export function moneyBreakdown(figure) {
  const currencies = Object.entries(figure?.by_currency || {});
  if (currencies.length < 2) return [];
  return currencies.map(([currency, part]) => `${formatMoney(part.amount, currency)} · ${countOf(part.deals, "deal")}`);
}

// A change of a Money figure (MoneyChange): in the reporting currency when both ends converted, else per currency.
export function moneyChange(change, reportingCurrency) {
  if (!change) return null;
  const signedMoney = (amount, currency) => `${amount > 0 ? "+" : amount < 0 ? "−" : "±"}` +
    formatMoney(Math.abs(amount), currency);
  if (change.reporting != null) return signedMoney(change.reporting, reportingCurrency);
  const parts = Object.entries(change.by_currency || {}).filter(([, amount]) => amount !== 0);
  return parts.length ? parts.map(([currency, amount]) => signedMoney(amount, currency)).join(", ") : "±0";
}

// The currency a chart of these figures can plot in: the reporting currency when every currency converted, else
// the one currency there is; null across currencies without rates (no silent sum).
export function plotCurrency(figures) {
  const money = figures.pipeline_value;
  if (money.reporting.complete) return { currency: money.reporting.currency, converted: true };
  const currencies = Object.keys(money.by_currency);
  return currencies.length === 1 ? { currency: currencies[0], converted: false } : null;
}

// A figure's amount in that currency.
export function plotted(figure, plot) {
  if (!figure) return null;
  if (plot.converted) return figure.reporting.complete ? figure.reporting.amount : null;
  return figure.by_currency[plot.currency]?.amount ?? 0;
}
