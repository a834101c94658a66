// A deal's history (GET /v1/deals/{id}/history, oldest first): the risk-score chart, each point coloured by its
// category, and the list of what happened, newest first — each score with why it changed and its model version,
// verdict changes with their reasons, and override events (who, when, before → after, why): the audit trail.

import { cssColor, draw, timeLabel } from "./charts.js";
import { el } from "./dom.js";
import { formatTime, label, signed } from "./format.js";

export function drawHistory(canvas, history) {
  const scores = history.points.filter((point) => point.kind === "score");
  draw(canvas, {
    type: "line",
    data: {
      labels: scores.map((point) => timeLabel(point.at, true)),
      datasets: [{
        label: "risk score", data: scores.map((point) => point.risk_score), borderColor: cssColor("accent"),
        pointBackgroundColor: scores.map((point) => cssColor(point.risk_category)), pointRadius: 4, tension: 0.1,
      }],
    },
    options: {
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { afterLabel: (item) => whyLines(scores[item.dataIndex]).join("\n") } },
      },
      scales: { y: { min: 0, max: 100, ticks: { stepSize: 25 } } },
    },
  });
}

function whyLines(point) {
  const changes = (point.since_previous?.changes || []).map((c) => `${c.description} (${signed(c.delta)})`);
  return [...changes, `model ${point.model_version}`];
}

export function historyEvents(history) {
  const shown = history.points.filter((point) => point.kind !== "verdict" || point.changed);
  return shown.reverse().map((point) => EVENTS[point.kind](point));
}

const EVENTS = {
  score: (point) => {
    const since = point.since_previous;
    const why = since ? (since.changes || []).map((c) => `${c.description} (${signed(c.delta)})`).join("; ")
      : "first score";
    return el("li", { className: "score-event" },
      `${formatTime(point.at)} · risk ${point.risk_score}${since ? ` (${signed(since.delta)})` : ""} · ` +
      `${why || "no field changed"} · model ${point.model_version}`);
  },
  verdict: (point) => el("li", { className: "verdict-event" },
    `${formatTime(point.at)} · AI verdict ${label(point.ai_verdict)}` +
    (point.reasons?.length ? ` — ${point.reasons[0]}` : "")),
  override: (point) => {
    const what = point.action === "clear"
      ? `override ${label(point.previous)} removed`
      : `override ${label(point.previous || point.ai_verdict)} → ${label(point.forecast_category)}`;
    return el("li", { className: "override-event" },
      `${formatTime(point.at)} · ${what} by ${point.overridden_by}${point.reason ? `: “${point.reason}”` : ""}`);
  },
};
