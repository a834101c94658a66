// A deal's history (GET /v1/deals/{id}/history): the risk-score chart, each point coloured by its category, and
// the list of what happened — each score's why-it-changed and model version, verdict changes, overrides (who,
// when, before → after, why).

import { cssColor, draw, timeLabel } from "./charts.js";
import { el } from "./dom.js";
import { formatTime, label, signed } from "./format.js";

export async function drawHistory(canvas, history) {
  const scores = history.scores || [];
  draw(canvas, {
    type: "line",
    data: {
      labels: scores.map((point) => timeLabel(point.scored_at, true)),
      datasets: [{
        label: "risk score", data: scores.map((point) => point.risk_score), borderColor: cssColor("accent"),
        pointBackgroundColor: scores.map((point) => cssColor(point.risk_category)), pointRadius: 4, tension: 0.1,
      }],
    },
    options: {
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { afterLabel: (item) => scoreNote(scores[item.dataIndex]) } },
      },
      scales: { y: { min: 0, max: 100, ticks: { stepSize: 25 } } },
    },
  });
}

function scoreNote(point) {
  const changes = (point.since_previous?.changes || []).map((c) => `${c.description} (${signed(c.delta)})`);
  return [...changes, `model ${point.model_version}`].join("\n");
}

// Newest first: scores, verdicts and overrides in one list.
export function historyEvents(history) {
  const events = [
    ...(history.scores || []).map((p) => ({ at: p.scored_at, node: scoreEvent(p) })),
    ...(history.verdicts || []).map((v) => ({ at: v.decided_at, node: verdictEvent(v) })),
    ...(history.overrides || []).map((o) => ({ at: o.at, node: overrideEvent(o) })),
  ];
  events.sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  return events.map((event) => event.node);
}

function scoreEvent(point) {
  const since = point.since_previous;
  const why = since ? (since.changes || []).map((c) => c.description).join("; ") : "first score";
  return el("li", { className: "score-event" },
    `${formatTime(point.scored_at)} · risk ${point.risk_score}`,
    since ? ` (${signed(since.delta)})` : "", ` · ${why || "no field changed"} · model ${point.model_version}`);
}

function verdictEvent(verdict) {
  return el("li", { className: "verdict-event" },
    `${formatTime(verdict.decided_at)} · AI verdict ${label(verdict.ai_verdict)}` +
    (verdict.reasons?.length ? ` — ${verdict.reasons[0]}` : ""));
}

function overrideEvent(override) {
  const change = override.action === "clear"
    ? `override of ${label(override.previous_verdict)} removed`
    : `override ${label(override.previous_verdict || override.ai_verdict)} → ${label(override.verdict)}`;
  return el("li", { className: "override-event" },
    `${formatTime(override.at)} · ${change} by ${override.by}${override.reason ? `: “${override.reason}”` : ""}`);
}
