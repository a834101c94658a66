// Chart.js (served from /static/vendor through the page's import map) and the few chart kinds the page draws.
// Imported lazily, after the header and the first table page are on screen.

import { Chart, registerables } from "chart.js";

Chart.register(...registerables);
Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
Chart.defaults.animation = false;   // live data redraws often; motion only delays the numbers

const charts = new WeakMap();   // canvas -> its Chart

export const CATEGORIES = ["low", "medium", "high", "critical"];

export function cssColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(`--${name}`).trim();
}

// Draws the chart on the canvas, or updates the one already there (keeps its size, no flicker).
export function draw(canvas, config) {
  const existing = charts.get(canvas);
  if (existing && existing.config.type === config.type) {
    existing.data = config.data;
    existing.options = config.options;
    existing.update("none");
    return existing;
  }
  existing?.destroy();
  const chart = new Chart(canvas, { ...config, options: { responsive: true, maintainAspectRatio: false,
                                                           ...config.options } });
  charts.set(canvas, chart);
  return chart;
}

export function timeLabel(iso, withTime) {
  const date = new Date(iso);
  return withTime ? date.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit",
                                                     minute: "2-digit" })
    : date.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}
