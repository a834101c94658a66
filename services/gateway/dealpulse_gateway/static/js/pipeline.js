// The pipeline header (pipeline value, risk-adjusted value, optimism gap, revenue at risk: each with the deals it
// rests on, per currency and in the tenant's reporting currency at the rates shown), the risk-distribution chart
// and the 7/30/90-day trend chart, all from GET /v1/pipeline/metrics. Refetched (coalesced) as scores arrive.

import { $, coalesce, el } from "./dom.js";
import { formatCount, formatMoney, formatPercent } from "./format.js";
import { api } from "./session.js";

const REFETCH_MS = 1500;
const KPIS = {   // card id -> the metrics field it shows
  "kpi-pipeline": "pipeline_value",
  "kpi-risk-adjusted": "risk_adjusted_value",
  "kpi-optimism-gap": "optimism_gap",
  "kpi-at-risk": "revenue_at_risk",
};

let trendDays = 30;
let drawnOnce = false;

export const pipelineChanged = coalesce(() => loadPipeline(), REFETCH_MS);

export function initPipeline() {
  for (const button of document.querySelectorAll("#trend-periods button")) {
    button.addEventListener("click", () => {
      trendDays = Number(button.dataset.days);
      for (const other of document.querySelectorAll("#trend-periods button")) {
        other.setAttribute("aria-pressed", String(other === button));
      }
      loadPipeline();
    });
  }
}

export async function loadPipeline() {
  let metrics;
  try {
    metrics = await api(`/v1/pipeline/metrics?period=${trendDays}d`);
  } catch (error) {
    $("pipeline-note").textContent = `The pipeline figures could not be loaded: ${error.message}`;
    return;
  }
  renderHeader(metrics);
  if (!drawnOnce) {
    drawnOnce = true;
    performance.mark("dealpulse:pipeline");
  }
  const { drawRiskDistribution, drawTrends } = await import("./pipeline_charts.js");
  drawRiskDistribution($("risk-chart"), metrics);
  drawTrends($("trend-chart"), metrics, trendDays);
  if (!performance.getEntriesByName("dealpulse:charts").length) performance.mark("dealpulse:charts");
}

function renderHeader(metrics) {
  for (const [id, field] of Object.entries(KPIS)) {
    const card = $(id);
    const figure = metrics[field];
    const value = card.querySelector(".kpi-value");
    const before = value.textContent;
    value.textContent = headline(figure, metrics.reporting_currency);
    card.querySelector(".kpi-count").textContent = `${formatCount(figure?.deals)} deals`;
    card.querySelector(".kpi-breakdown").replaceChildren(...breakdown(figure));
    if (before !== "—" && before !== value.textContent) flash(card);
  }
  $("pipeline-note").textContent = ratesNote(metrics);
}

// In the reporting currency when the tenant's rates cover every currency, else the only currency there is, else
// "n currencies" (the breakdown below says which): never a silent sum across currencies.
function headline(figure, reporting) {
  if (!figure) return "—";
  if (figure.reporting_amount != null) {
    const money = formatMoney(figure.reporting_amount, reporting);
    return figure.percent == null ? money : `${money} (${formatPercent(figure.percent)})`;
  }
  const currencies = figure.by_currency || [];
  if (currencies.length === 1) return formatMoney(currencies[0].amount, currencies[0].currency);
  return currencies.length ? `${currencies.length} currencies` : formatMoney(0, reporting);
}

function breakdown(figure) {
  const currencies = figure?.by_currency || [];
  if (currencies.length < 2 && figure?.reporting_amount == null) return [];
  return currencies.map((part) => el("li", {},
    `${formatMoney(part.amount, part.currency)} · ${formatCount(part.deals)} deals`));
}

function ratesNote(metrics) {
  const rates = Object.entries(metrics.rates || {});
  const scored = metrics.scored_recently_share == null ? ""
    : ` · ${formatPercent(metrics.scored_recently_share)} scored in the last 24 h`;
  if (!rates.length) return `Reporting currency ${metrics.reporting_currency || "—"}${scored}`;
  return `Reporting currency ${metrics.reporting_currency} at the tenant's rates: ` +
    rates.map(([currency, rate]) => `1 ${currency} = ${rate} ${metrics.reporting_currency}`).join(", ") + scored;
}

function flash(card) {
  card.classList.remove("updated");
  void card.offsetWidth;   // restart the animation
  card.classList.add("updated");
}
