// How the dashboard writes values: money always in its own currency, ages, percentages, enum labels.
// Every value from the server reaches the page through textContent (see dom.js), never as HTML.

// A deal whose CRM named no currency is in this one: CanonicalDeal.currency's default (libs/common deal.py). The
// stored snapshot may leave it out; a score's copy of the deal and the REST rows always carry it.
export const DEAL_DEFAULT_CURRENCY = "USD";

const moneyFormats = new Map();   // currency -> Intl.NumberFormat: building one costs more than formatting

export function formatMoney(amount, currency) {
  if (amount == null) return "—";
  if (!currency) return Math.round(amount).toLocaleString();   // a figure whose currency nobody sent
  let format = moneyFormats.get(currency);
  if (format === undefined) {
    try {
      format = new Intl.NumberFormat(undefined, { style: "currency", currency, maximumFractionDigits: 0 });
    } catch {
      format = null;   // a code Intl does not know: the number with the code beside it
    }
    moneyFormats.set(currency, format);
  }
  return format ? format.format(amount) : `${Math.round(amount).toLocaleString()} ${currency}`;
}

export function formatAge(seconds) {
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

export const formatPercent = (share) => (share == null ? "—" : `${Math.round(share * 100)}%`);   // 0–1

export const formatPct = (pct) => (pct == null ? "—" : `${Math.round(pct)}%`);   // 0–100, as the analytics send it

export const formatCount = (n) => (n == null ? "—" : Number(n).toLocaleString());

export const label = (value) => String(value || "—").replace(/_/g, " ");

export const signed = (n, digits = 0) => `${n > 0 ? "+" : ""}${Number(n).toFixed(digits)}`;

export const formatTime = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

export const countOf = (n, noun) => `${formatCount(n)} ${noun}${n === 1 ? "" : "s"}`;
