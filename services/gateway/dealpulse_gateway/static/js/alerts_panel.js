// The alerts panel: the recent alerts when the page opens (GET /v1/alerts, with the feedback already given), then
// alerts and verdict changes as the feed brings them, newest first; each alert can be acknowledged, snoozed for a
// day or marked a false alarm (POST /v1/alerts/{id}/feedback).

import { $, el } from "./dom.js";
import { label } from "./format.js";
import { api } from "./session.js";

const MAX_ITEMS = 100;
const RECENT_ALERTS = 50;
const SNOOZE_HOURS = 24;
const FEEDBACK_SHOWN = { acknowledge: "acknowledged", snooze: "snoozed", false_alarm: "marked a false alarm" };

let openDeal = () => {};
const shownAlerts = new Set();   // a resumed feed may bring again an alert the list already showed

export function initAlertsPanel({ onOpen }) {
  openDeal = onOpen;
}

export async function loadRecentAlerts() {
  const page = await api(`/v1/alerts?limit=${RECENT_ALERTS}`);
  for (const alert of [...page.alerts].reverse()) showAlert(alert);
}

export function addAlert(event) {
  showAlert({ ...event.data, deal_id: event.dealid });
}

function showAlert(alert) {
  if (shownAlerts.has(alert.alert_id)) return;
  shownAlerts.add(alert.alert_id);
  const item = feedItem("alert", alert.raised_at, alert.title, alert.summary, alert.deal_id);
  item.classList.add(`sev-${alert.severity}`);
  item.dataset.alertId = alert.alert_id;
  item.append(feedbackControls(alert.alert_id, alert.feedback));
  prepend(item);
}

export function addVerdict(event, dealName) {
  const data = event.data;
  const details = [`AI forecast ${label(data.ai_forecast)}`];
  if (data.rep_forecast) details.push(`rep ${label(data.rep_forecast)}`);
  if (data.commit_admission && data.commit_admission !== "not_applicable") {
    details.push(`commit ${label(data.commit_admission)}`);
  }
  const text = [details.join(" · "), ...(data.reasons || []).slice(0, 1)].join(" — ");
  const name = dealName || event.dealid;
  // verdict re-states a deal's verdict when a manager sets or removes an override (provider "override").
  const title = data.provider !== "override" ? `${name}: AI verdict ${label(data.ai_verdict)}`
    : data.override ? `${name}: overridden to ${label(data.override.forecast_category)} by ${data.override.overridden_by}`
      : `${name}: override removed, AI verdict ${label(data.ai_verdict)} stands`;
  prepend(feedItem("verdict", data.decided_at, title, text, event.dealid));
}

function feedItem(kind, time, title, text, dealId) {
  const open = el("button", { type: "button", className: "link" }, "open deal");
  open.addEventListener("click", () => openDeal(dealId));
  return el("li", { className: kind, dataset: { dealId } },
    el("span", { className: "kind" }, `${kind} · ${new Date(time).toLocaleTimeString()}`),
    el("span", { className: "title" }, title),
    el("span", { className: "text" }, text || ""), " · ", open);
}

function feedbackControls(alertId, given) {
  const outcome = el("span", { className: "outcome", role: "status" });
  if (given) outcome.textContent = `${FEEDBACK_SHOWN[given.action] || given.action} by ${given.by}`;
  const reason = el("input", { type: "text", placeholder: "why is it a false alarm?", maxLength: 2000,
                               hidden: true, ariaLabel: "False alarm reason" });
  const send = async (body, done) => {
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const answer = await api(`/v1/alerts/${encodeURIComponent(alertId)}/feedback`, { method: "POST", body });
      outcome.textContent = done(answer);
      reason.hidden = true;
    } catch (error) {
      outcome.textContent = `not recorded: ${error.message}`;
      buttons.forEach((b) => { b.disabled = false; });
    }
  };
  const button = (text, onClick) => {
    const b = el("button", { type: "button" }, text);
    b.addEventListener("click", onClick);
    return b;
  };
  const buttons = [
    button("Acknowledge", () => send({ action: "acknowledge" }, () => "acknowledged")),
    button(`Snooze ${SNOOZE_HOURS} h`, () => send({ action: "snooze", snooze_hours: SNOOZE_HOURS },
      (answer) => `snoozed until ${new Date(answer.snoozed_until).toLocaleString()}`)),
    button("False alarm", () => {
      if (reason.hidden) {
        reason.hidden = false;
        reason.focus();
        return;
      }
      send({ action: "false_alarm", reason: reason.value.trim() || null }, () => "marked a false alarm");
    }),
  ];
  return el("div", { className: "feedback" }, ...buttons, reason, outcome);
}

function prepend(item) {
  const list = $("feed-items");
  list.prepend(item);
  while (list.children.length > MAX_ITEMS) list.lastElementChild.remove();
  $("feed-empty").hidden = true;
}
