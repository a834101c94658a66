// The rep table, from GET /v1/reps (a rep's own line; a manager's team; an admin's tenant), refetched as scores
// arrive.

import { $, coalesce, el } from "./dom.js";
import { formatCount, formatMoney, formatPercent } from "./format.js";
import { api } from "./session.js";

const REFETCH_MS = 3000;

export const repsChanged = coalesce(() => loadReps(), REFETCH_MS);

export async function loadReps() {
  let answer;
  try {
    answer = await api("/v1/reps");
  } catch (error) {
    $("reps-note").textContent = `could not be loaded: ${error.message}`;
    return;
  }
  const reporting = answer.reporting_currency;
  $("rep-rows").replaceChildren(...answer.reps.map((rep) => repRow(rep, reporting)));
  $("reps-note").textContent = `(${formatCount(answer.reps.length)})`;
}

function repRow(rep, reporting) {
  const num = (text, className = "") => el("td", { className: `num ${className}` }, text);
  return el("tr", {},
    el("td", {}, rep.owner_name || rep.owner_id || "no owner"),
    num(money(rep.open_pipeline, reporting)),
    num(money(rep.risk_adjusted_value, reporting)),
    num(formatPercent(rep.win_rate)),
    num(rep.cycle_time_days == null ? "—" : rep.cycle_time_days.toFixed(0), "hide-narrow"),
    num(formatCount(rep.high_risk_deals)),
    num(rep.average_risk_score == null ? "—" : rep.average_risk_score.toFixed(0), "hide-narrow"),
    num(formatPercent(rep.verified_commit_share), "hide-narrow"),
  );
}

function money(figure, reporting) {
  if (!figure) return "—";
  if (figure.reporting_amount != null) return formatMoney(figure.reporting_amount, reporting);
  return (figure.by_currency || []).map((part) => formatMoney(part.amount, part.currency)).join(" + ") || "—";
}
