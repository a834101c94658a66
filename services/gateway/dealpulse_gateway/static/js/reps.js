// The rep table, from GET /v1/reps (a rep sees their own line; managers and admins every rep they may see),
// refetched (coalesced) as scores arrive.

import { $, coalesce, el } from "./dom.js";
import { countOf, formatCount, formatPct } from "./format.js";
import { moneyHeadline } from "./money.js";
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
  $("rep-rows").replaceChildren(...answer.reps.map(repRow));
  $("reps-note").textContent = `${countOf(answer.reps.length, "rep")} · win rate and cycle over ${answer.period.name}`;
}

function repRow(rep) {
  const num = (text, className = "", title = null) => el("td", { className: `num ${className}`, title }, text);
  return el("tr", { dataset: { ownerId: rep.owner_id || "" } },
    el("td", {}, rep.owner_name || rep.owner_id || "no owner",
       el("span", { className: "sub" }, countOf(rep.open_deals, "open deal"))),
    num(moneyHeadline(rep.pipeline_value)),
    num(moneyHeadline(rep.risk_adjusted_value), "hide-narrow"),
    num(formatPct(rep.win_rate.pct), "hide-narrow", `${rep.win_rate.won} won of ${rep.win_rate.deals} closed`),
    num(rep.cycle_time.avg_days == null ? "—" : formatCount(Math.round(rep.cycle_time.avg_days)), "hide-narrow"),
    num(formatCount(rep.high_risk_deals)),
    num(rep.average_risk_score == null ? "—" : String(Math.round(rep.average_risk_score)), "hide-narrow"),
    num(formatPct(rep.verified_commit_pct), "hide-narrow", `of ${countOf(rep.commit_calls, "Commit call")}`),
  );
}
