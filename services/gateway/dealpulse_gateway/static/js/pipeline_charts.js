// The header's two charts: open deals by risk category (count; the amount in the tooltip) and the trend of
// pipeline value, risk-adjusted value and revenue at risk from the daily snapshots 90, 30 and 7 days ago to now.
// Money is plotted only in the reporting currency and only when every currency converted (no silent sums).

import { CATEGORIES, cssColor, draw } from "./charts.js";
import { formatMoney, formatPct, label } from "./format.js";
import { moneyBreakdown, moneyHeadline, plottable } from "./money.js";

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
  const currency = metrics.reporting.currency;
  const missing = past.filter((point) => !point.pipeline).map((point) => point.days);
  draw(canvas, {
    type: "line",
    data: {
      labels: columns.map((column) => column.label),
      datasets: SERIES.map(([field, name, color]) => ({
        label: name, data: columns.map((column) => (column.figures ? plottable(column.figures[field]) : null)),
        borderColor: cssColor(color), backgroundColor: cssColor(color), pointRadius: 4, spanGaps: true,
      })),
    },
    options: {
      interaction: { mode: "index", intersect: false },
      plugins: {
        tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${formatMoney(item.raw, currency)}` } },
        subtitle: { display: missing.length > 0,
                    text: `No daily snapshot yet from ${missing.join(", ")} days ago` },
      },
      scales: { y: { beginAtZero: true, ticks: { callback: (value) => compactMoney(value, currency) } } },
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
