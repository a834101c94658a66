// One deal (#deal=ID): its facts, risk factors, why it changed, the verdict with its reasons and any override
// beside it, the score history chart, recommendations, similar won deals, and — for managers and admins — the
// override form. Refreshed while open when the feed brings news of the deal.

import { $, coalesce, el, fillList, riskBadge } from "./dom.js";
import { DEAL_DEFAULT_CURRENCY, formatMoney, formatPercent, formatTime, label, signed } from "./format.js";
import { api, canOverride, hashParams } from "./session.js";
import { renderOverrideForm } from "./override_form.js";

const REFRESH_MS = 800;
// An override is applied by the verdict service moments after the gateway accepted it: the drill-down re-reads the
// deal until its verdict carries it, at these intervals (then the feed or a reload brings it).
const OVERRIDE_CHECKS_MS = [300, 600, 1200, 2400, 4800];

let shown = null;   // the deal id on screen
let overridden = () => {};
const refreshShown = coalesce(() => (shown ? load(shown) : null), REFRESH_MS);

export const requestedDeal = () => hashParams().get("deal");

export function initDrilldown({ onOverridden }) {
  $("detail-close").addEventListener("click", closeDeal);
  overridden = async (dealId, accepted) => {
    await untilApplied(dealId, accepted);
    onOverridden(dealId);
  };
}

export function openDeal(dealId) {
  const params = hashParams();
  params.set("deal", dealId);
  location.hash = params.toString();   // hashchange opens it, and the back button closes it
}

export function closeDeal() {
  shown = null;
  history.replaceState(null, "", location.pathname + location.search);
  $("deal-detail").hidden = true;
}

// The feed brought news of a deal: redraw it if it is the one on screen.
export function dealChanged(dealId) {
  if (dealId === shown) refreshShown();
}

export async function showRequestedDeal() {
  const dealId = requestedDeal();
  if (!dealId) {
    shown = null;
    $("deal-detail").hidden = true;
    return;
  }
  shown = dealId;
  await load(dealId);
}

// Draws the deal; its view (null when it could not be read or another deal was asked for meanwhile).
async function load(dealId) {
  const path = `/v1/deals/${encodeURIComponent(dealId)}`;
  const [view, history] = await Promise.allSettled([api(path), api(`${path}/history`)]);
  if (shown !== dealId) return null;
  if (view.status === "rejected") {
    showMessage(dealId, loadFailure(view.reason));
    return null;
  }
  showDeal(dealId, view.value);
  await showHistory(history.status === "fulfilled" ? history.value : null, history.reason);
  return view.value;
}

async function untilApplied(dealId, accepted) {
  const instant = (override) => (override ? Date.parse(override.overridden_at) : null);
  const wanted = instant(accepted.override);
  for (const wait of OVERRIDE_CHECKS_MS) {
    await new Promise((resolve) => setTimeout(resolve, wait));
    const view = await load(dealId);
    if (!view || instant(view.verdict?.override) === wanted) return;
  }
}

function loadFailure(error) {
  if (error.status === 403) return "This deal belongs to another rep.";
  if (error.status === 404) return "No such deal in your tenant (it may have been deleted in the CRM).";
  if (error.status === 401) return "Sign in to open this deal.";
  return `The deal could not be loaded (${error.status || error.message}).`;
}

function showDeal(dealId, view) {
  const deal = view.deal || {};
  const score = view.score || {};
  const verdict = view.verdict;
  $("detail-title").textContent = deal.name || deal.account_name || dealId;
  $("detail-risk").replaceChildren(riskBadge(score.risk_score, score.risk_category));
  $("detail-risk").hidden = score.risk_score == null;
  $("detail-facts").textContent = [
    deal.account_name, deal.stage && label(deal.stage), deal.owner_name || deal.owner_id,
    formatMoney(deal.amount, deal.currency || DEAL_DEFAULT_CURRENCY),
    deal.forecast_category && `rep's call ${label(deal.forecast_category)}`,
    score.win_probability == null ? null : `win probability ${formatPercent(score.win_probability)}`,
    deal.expected_close_date && `closes ${deal.expected_close_date}`,
    view.deleted_at ? "deleted in the CRM" : null, view.stale ? "stale" : null,
  ].filter(Boolean).join(" · ");
  showVerdict(verdict, score);
  fillList($("detail-factors"), (score.factors || []).map(
    (f) => `${f.label} (${signed(Number(f.impact), 1)} pts): ${f.description}`));
  fillList($("detail-changes"), whyItChanged(score.since_previous));
  fillList($("detail-recommendations"), (score.recommendations || []).map(
    (r) => `${label(r.priority)}: ${r.action} — ${r.rationale}`));
  fillList($("detail-similar"), (score.similar_won_deals || []).map(similarLine));
  renderOverrideForm($("detail-override"), dealId, verdict, canOverride() && !view.deleted_at, overridden);
  $("deal-detail").hidden = false;
}

function showVerdict(verdict, score) {
  const box = $("detail-verdict");
  if (!verdict) {
    box.replaceChildren(score.risk_score == null ? "Not scored yet." : "No verdict yet.");
    return;
  }
  const ai = el("div", { className: "call ai" }, el("span", { className: "call-label" }, "AI verdict"),
    el("strong", {}, label(verdict.ai_verdict)),
    el("span", { className: "sub" }, [
      `AI forecast ${label(verdict.ai_forecast)}`,
      verdict.rep_forecast && `rep ${label(verdict.rep_forecast)}`,
      verdict.commit_admission !== "not_applicable" && `commit ${label(verdict.commit_admission)}`,
    ].filter(Boolean).join(" · ")));
  const override = verdict.override;
  const manager = override && el("div", { className: "call override" },
    el("span", { className: "call-label" }, "Manager override"),
    el("strong", {}, label(override.forecast_category)),
    el("span", { className: "sub" }, `${override.overridden_by}, ${formatTime(override.overridden_at)}: ` +
                                     `“${override.reason}”`));
  const reasons = el("ul", { className: "reasons" },
    ...(verdict.reasons || []).map((reason) => el("li", {}, reason)),
    ...(verdict.gates || []).map((gate) => el("li", { className: gate.passed ? "gate-ok" : "gate-no" },
      `${label(gate.gate)}: ${gate.passed ? "confirmed" : "not confirmed"} — ${gate.reason}`)));
  box.replaceChildren(el("div", { className: "calls" }, ai, manager), reasons);
}

function whyItChanged(since) {
  if (!since) return ["First score of this deal."];
  return [`${signed(since.delta)} risk points since ${formatTime(since.previous_scored_at)} ` +
          `(was ${since.previous_risk_score})`,
          ...(since.changes || []).map((c) => `${c.description} (${signed(c.delta)})`)];
}

function similarLine(similar) {
  const what = (similar.what_happened || []).join("; ");
  return `${similar.name || similar.deal_id}${similar.account_name ? ` (${similar.account_name})` : ""}, ` +
         `${formatMoney(similar.amount, similar.currency)} won${similar.closed_at ? " " + formatTime(similar.closed_at)
         : ""}${what ? ": " + what : ""}`;
}

async function showHistory(history, error) {
  const note = $("history-note");
  if (!history) {
    note.textContent = `No history: ${error?.message || "not available"}.`;
    $("history-events").replaceChildren();
    return;
  }
  note.textContent = "";
  const { historyEvents, drawHistory } = await import("./history.js");
  $("history-events").replaceChildren(...historyEvents(history));
  await drawHistory($("history-chart"), history);
}

function showMessage(dealId, text) {
  $("detail-title").textContent = dealId;
  $("detail-risk").hidden = true;
  $("detail-facts").textContent = text;
  $("detail-verdict").replaceChildren();
  for (const id of ["detail-factors", "detail-changes", "detail-recommendations", "detail-similar"]) {
    fillList($(id), []);
  }
  renderOverrideForm($("detail-override"), dealId, null, false, overridden);
  $("history-events").replaceChildren();
  $("history-note").textContent = "";
  $("deal-detail").hidden = false;
}
