// The override form of the drill-down (managers and admins): set the call in place of the AI verdict, with a
// reason, or remove the override in force. The gateway audits both; the verdict service re-states the verdict
// with the override, which the feed then brings back to every open page.

import { el } from "./dom.js";
import { label } from "./format.js";
import { api } from "./session.js";

const CALLS = ["pipeline", "best_case", "commit"];

export function renderOverrideForm(container, dealId, verdict, allowed, onDone) {
  if (!allowed || !verdict) {
    container.replaceChildren();
    return;
  }
  const current = verdict.override;
  const call = el("select", { name: "forecast_category", ariaLabel: "Override call" },
    ...CALLS.map((value) => el("option", { value, selected: value === (current?.forecast_category ?? "") },
                               label(value))));
  const reason = el("textarea", { name: "reason", required: true, maxLength: 1000, rows: 2,
                                  placeholder: "Why (required, kept in the audit log)", ariaLabel: "Reason" });
  const outcome = el("p", { className: "outcome", role: "status" });
  const submit = el("button", { type: "submit" }, current ? "Change override" : "Override the AI verdict");
  const form = el("form", { className: "override-form" },
    el("h3", {}, current ? "Override in force" : "Override the AI verdict"),
    el("div", { className: "override-row" }, call, reason, submit), outcome);

  const send = async (method, body, done) => {
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      const answer = await api(`/v1/deals/${encodeURIComponent(dealId)}/verdict-override`, { method, body });
      outcome.textContent = done;
      onDone(dealId, answer);
    } catch (error) {
      outcome.textContent = `Not saved: ${error.message}`;
    } finally {
      form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send("POST", { forecast_category: call.value, reason: reason.value.trim() },
         `Override to ${label(call.value)} saved.`);
  });
  if (current) {
    const remove = el("button", { type: "button", className: "secondary" }, "Remove override");
    remove.addEventListener("click", () => {
      if (!reason.value.trim()) {
        outcome.textContent = "Say why it is removed (the reason is audited).";
        reason.focus();
        return;
      }
      send("DELETE", { reason: reason.value.trim() }, "Override removed.");
    });
    form.querySelector(".override-row").append(remove);
  }
  container.replaceChildren(form);
}
