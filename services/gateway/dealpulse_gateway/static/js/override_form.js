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
    delete container.dataset.shows;
    return;
  }
  const current = verdict.override;
  // A redraw of the deal (the feed brought a new score) keeps the form, and what is being typed in it, unless the
  // calls it stands beside changed.
  const shows = JSON.stringify([dealId, verdict.ai_verdict, current?.forecast_category, current?.overridden_at]);
  if (container.dataset.shows === shows) return;
  container.dataset.shows = shows;
  const call = el("select", { name: "forecast_category", ariaLabel: "Override call" },
    ...CALLS.map((value) => el("option", { value, selected: value === (current?.forecast_category ?? "") },
                               label(value))));
  const reason = el("textarea", { name: "reason", required: true, maxLength: 1000, rows: 2,
                                  placeholder: "Why (required to override; kept in the audit log)",
                                  ariaLabel: "Reason" });
  const outcome = el("p", { className: "outcome", role: "status" });
  const submit = el("button", { type: "submit" }, current ? "Change override" : "Override the AI verdict");
  const form = el("form", { className: "override-form" },
    el("h3", {}, current ? "Override in force" : "Override the AI verdict"),
    el("div", { className: "override-row" }, call, reason, submit), outcome);

  const path = `/v1/deals/${encodeURIComponent(dealId)}/verdict-override`;
  const send = async (method, query, body, done) => {
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      const answer = await api(query ? `${path}?${query}` : path, { method, body });
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
    send("POST", null, { forecast_category: call.value, reason: reason.value.trim() },
         `Override to ${label(call.value)} saved.`);
  });
  if (current) {
    const remove = el("button", { type: "button", className: "secondary" }, "Remove override");
    remove.addEventListener("click", () => {
      const why = reason.value.trim();
      send("DELETE", why ? new URLSearchParams({ reason: why }) : null, undefined, "Override removed.");
    });
    form.querySelector(".override-row").append(remove);
  }
  container.replaceChildren(form);
}
