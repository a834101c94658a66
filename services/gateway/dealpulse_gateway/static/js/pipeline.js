// The pipeline header (pipeline value, risk-adjusted value, optimism gap, revenue at risk: each with the deals it
// rests on, per currency and in the tenant's reporting currency at the rates shown, and its change against 7, 30 or
// 90 days ago), the risk-distribution chart and the trend chart, all from GET /v1/pipeline/metrics; refetched
// (coalesced) as scores arrive.

import { $, coalesce, el, markPainted } from "./dom.js";
import { countOf, formatPct } from "./format.js";
import { moneyBreakdown, moneyChange, moneyHeadline } from "./money.js";
import { api } from "./session.js";

const REFETCH_MS = 1500;
const KPIS = {   // card id -> the field of metrics.pipeline it shows
  "kpi-pipeline": "pipeline_value",
  "kpi-risk-adjusted": "risk_adjusted_value",
  "kpi-optimism-gap": "optimism_gap",
  "kpi-at-risk": "revenue_at_risk",
};

let compareDays = 7;
let latest = null;

export const pipelineChanged = coalesce(() => loadPipeline(), REFETCH_MS);

export function initPipeline() {
  for (const button of document.querySelectorAll("#trend-periods button")) {
    button.addEventListener("click", () => {
      compareDays = Number(button.dataset.days);
      for (const other of document.querySelectorAll("#trend-periods button")) {
        other.setAttribute("aria-pressed", String(other === button));
      }
      if (latest) renderHeader(latest);
    });
  }
}

export async function loadPipeline() {
  const charts = import("./pipeline_charts.js");   // Chart.js loads while the figures are on their way
  charts.catch(() => {});   // a failure is reported where the charts are drawn
  let metrics;
  try {
    metrics = await api("/v1/pipeline/metrics");
  } catch (error) {
    $("pipeline-note").textContent = `The pipeline figures could not be loaded: ${error.message}`;
    return;
  }
  const first = latest === null;
  latest = metrics;
  renderHeader(metrics);
  if (first) markPainted("dealpulse:pipeline");
  try {
    const { drawRiskDistribution, drawTrends } = await charts;
    drawRiskDistribution($("risk-chart"), metrics);
    drawTrends($("trend-chart"), metrics);
    if (first) markPainted("dealpulse:charts");
  } catch (error) {   // e.g. static/vendor missing: `make install` copies Chart.js there
    $("risk-chart-note").textContent = `charts unavailable: ${error.message}`;
  }
}

function renderHeader(metrics) {
  const pipeline = metrics.pipeline;
  const trend = (metrics.trends || []).find((point) => point.days === compareDays)?.pipeline;
  for (const [id, field] of Object.entries(KPIS)) {
    const card = $(id);
    const figure = pipeline[field];
    const value = card.querySelector(".kpi-value");
    const before = value.textContent;
    value.textContent = moneyHeadline(figure) +
      (field === "optimism_gap" && pipeline.optimism_gap_pct != null ? ` (${formatPct(pipeline.optimism_gap_pct)})` : "");
    card.querySelector(".kpi-count").textContent = countOf(figure.deals, "deal");
    const lines = moneyBreakdown(figure);
    const change = trend ? moneyChange(trend.change[field], metrics.reporting.currency) : null;
    lines.push(change ? `${change} vs ${compareDays} days ago` : `no snapshot from ${compareDays} days ago yet`);
    card.querySelector(".kpi-breakdown").replaceChildren(...lines.map((line) => el("li", {}, line)));
    if (before !== "—" && before !== value.textContent) flash(card);
  }
  $("pipeline-note").textContent = [ratesNote(metrics.reporting), closedNote(metrics.closed, metrics.period),
    pipeline.scored_recently_pct == null ? null : `${formatPct(pipeline.scored_recently_pct)} scored in the last 14 days`,
  ].filter(Boolean).join(" · ");
}

function ratesNote(reporting) {
  const rates = Object.entries(reporting.rates || {});
  const head = `Reporting currency ${reporting.currency}`;
  if (!rates.length) return reporting.configured ? head : `${head} (no rates configured)`;
  return `${head}: ` + rates.map(([currency, rate]) => `1 ${currency} = ${rate} ${reporting.currency}`).join(", ") +
    (reporting.rates_as_of ? ` (rates of ${reporting.rates_as_of})` : "");
}

function closedNote(closed, period) {
  const win = closed.win_rate;
  const cycle = closed.cycle_time;
  if (!win.deals) return `no deal closed in the period (${period.name})`;
  return `win rate ${formatPct(win.pct)} of ${countOf(win.deals, "deal")} closed (${period.name})` +
    (cycle.avg_days == null ? "" : `, cycle ${Math.round(cycle.avg_days)} days`);
}

function flash(card) {
  card.classList.remove("updated");
  void card.offsetWidth;   // restart the animation
  card.classList.add("updated");
}
