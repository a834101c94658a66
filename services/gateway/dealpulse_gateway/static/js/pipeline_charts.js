// The header's two charts: open deals by risk category (count, with the amount in the tooltip) and the trends of
// pipeline value, risk-adjusted value and revenue at risk over the chosen period.

import { CATEGORIES, cssColor, draw, timeLabel } from "./charts.js";
import { formatCount, formatMoney, label } from "./format.js";

export function drawRiskDistribution(canvas, metrics) {
  const rows = new Map((metrics.risk_distribution || []).map((row) => [row.category, row]));
  const shown = CATEGORIES.map((category) => rows.get(category) || { category, deals: 0 });
  draw(canvas, {
    type: "bar",
    data: {
      labels: CATEGORIES.map(label),
      datasets: [{ label: "open deals", data: shown.map((row) => row.deals),
                   backgroundColor: CATEGORIES.map(cssColor) }],
    },
    options: {
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { afterLabel: (item) => amountLine(shown[item.dataIndex], metrics) } },
      },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
}

function amountLine(row, metrics) {
  if (row.reporting_amount != null) return formatMoney(row.reporting_amount, metrics.reporting_currency);
  return (row.by_currency || []).map((part) => formatMoney(part.amount, part.currency)).join(" + ");
}

const TREND_SERIES = [   // metrics field -> line
  ["pipeline_value", "Pipeline value", "accent"],
  ["risk_adjusted_value", "Risk-adjusted value", "low"],
  ["revenue_at_risk", "Revenue at risk", "critical"],
];

export function drawTrends(canvas, metrics, days) {
  const points = (metrics.trends || {}).points || [];
  const currency = metrics.reporting_currency;
  draw(canvas, {
    type: "line",
    data: {
      labels: points.map((point) => timeLabel(point.day, false)),
      datasets: TREND_SERIES.map(([field, name, color]) => ({
        label: name, data: points.map((point) => point[field]), borderColor: cssColor(color),
        backgroundColor: cssColor(color), pointRadius: points.length > 40 ? 0 : 2, tension: 0.2, spanGaps: true,
      })),
    },
    options: {
      interaction: { mode: "index", intersect: false },
      plugins: {
        tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${formatMoney(item.raw, currency)}` } },
        subtitle: { display: points.length === 0, text: `No daily snapshots in the last ${days} days yet` },
      },
      scales: { y: { beginAtZero: true, ticks: { callback: (value) => compactMoney(value, currency) } } },
    },
  });
}

const compactMoney = (value, currency) => {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency, notation: "compact" }).format(value);
  } catch {
    return formatCount(value);
  }
};
