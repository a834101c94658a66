// The header's two charts: open deals by risk category (count; the amount in the tooltip) and the trend of
// pipeline value, risk-adjusted value and revenue at risk from the daily snapshots 90, 30 and 7 days ago to now,
// plotted in one currency only (money.js: plotCurrency).

import { CATEGORIES, cssColor, draw } from "./charts.js";
import { formatMoney, formatPct, label } from "./format.js";
import { moneyBreakdown, moneyHeadline, plotCurrency, plotted } from "./money.js";

export function drawRiskDistribution(canvas, metrics) {
  const bands = CATEGORIES.map((category) => metrics.pipeline.risk_distribution[category]);
  draw(canvas, {
    type: "bar",
    data: {
      labels: CATEGORIES.map(label),
      datasets: [{ label: "open deals", data: bands.map((band) => band?.deals ?? 0),
                   backgroundColor: CATEGORIES.map(cssColor) }],
    },
    options: {
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { afterLabel: (item) => bandNote(bands[item.dataIndex]) } },
      },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
}

function bandNote(band) {
  if (!band) return "";
  const breakdown = moneyBreakdown(band.amount);
  return [`${moneyHeadline(band.amount)} (${formatPct(band.share_pct)} of the deals)`, ...breakdown].join("\n");
}

const SERIES = [   // field of the pipeline figures -> line
  ["pipeline_value", "Pipeline value", "accent"],
  ["risk_adjusted_value", "Risk-adjusted value", "low"],
  ["revenue_at_risk", "Revenue at risk", "critical"],
];

export function drawTrends(canvas, metrics) {
  const past = [...(metrics.trends || [])].sort((a, b) => b.days - a.days);
  const columns = [...past.map((point) => ({ label: `${point.days} days ago`, figures: point.pipeline?.figures })),
                   { label: "now", figures: metrics.pipeline }];
  const plot = plotCurrency(metrics.pipeline);
  const missing = past.filter((point) => !point.pipeline).map((point) => point.days);
  const notes = [plot ? null : "Several currencies without rates: the tenant admin sets them (PUT /v1/admin/reporting)",
                 missing.length ? `No daily snapshot yet from ${missing.join(", ")} days ago` : null].filter(Boolean);
  draw(canvas, {
    type: "line",
    data: {
      labels: columns.map((column) => column.label),
      datasets: SERIES.map(([field, name, color]) => ({
        label: name,
        data: columns.map((column) => (plot && column.figures ? plotted(column.figures[field], plot) : null)),
        borderColor: cssColor(color), backgroundColor: cssColor(color), pointRadius: 4, spanGaps: true,
      })),
    },
    options: {
      interaction: { mode: "index", intersect: false },
      plugins: {
        tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${formatMoney(item.raw, plot?.currency)}` } },
        subtitle: { display: notes.length > 0, text: notes },
      },
      scales: { y: { beginAtZero: true, suggestedMax: 1,
                     ticks: { callback: (value) => compactMoney(value, plot?.currency) } } },
    },
  });
}

function compactMoney(value, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency, notation: "compact" }).format(value);
  } catch {
    return String(value);
  }
}
