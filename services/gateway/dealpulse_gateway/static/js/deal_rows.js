// One row of the deal table: the model a REST row or a live score becomes, and the <tr> drawn from it.

import { el, riskBadge } from "./dom.js";
import { formatAge, formatMoney, formatPercent, label, signed } from "./format.js";

const STALE_AFTER_S = 14 * 24 * 3600;

// A row of GET /v1/deals.
export function rowFromRest(deal) {
  return {
    dealId: deal.deal_id, name: deal.name, account: deal.account_name, stage: deal.stage,
    owner: deal.owner_name || deal.owner_id, amount: deal.amount, currency: deal.currency,
    riskScore: deal.risk_score, category: deal.risk_category, winProbability: deal.win_probability,
    topFactor: deal.top_factor, sincePrevious: deal.since_previous, modelVersion: deal.model_version,
    verdict: deal.verdict, scoredAt: Date.parse(deal.scored_at),
  };
}

// A live score (deal.scored.v1 as the stream carries it) merged into the row shown so far, which keeps what a
// score does not carry (the verdict and any override).
export function rowFromScore(event, shown) {
  const data = event.data;
  const deal = data.deal || {};
  return {
    ...shown,
    dealId: event.dealid, name: deal.name, account: deal.account_name, stage: deal.stage,
    owner: deal.owner_name || deal.owner_id, amount: deal.amount, currency: deal.currency,
    riskScore: data.risk_score, category: data.risk_category, winProbability: data.win_probability,
    topFactor: (data.factors || [])[0], sincePrevious: data.since_previous, modelVersion: data.model_version,
    scoredAt: Date.parse(data.scored_at),
  };
}

export function dealRow(deal, now, flash) {
  const owner = deal.stage ? `${label(deal.stage)}${deal.owner ? " · " + deal.owner : ""}` : deal.owner;
  return el("tr", { className: flash ? "flash" : "", dataset: { dealId: deal.dealId }, tabIndex: 0 },
    cell(deal.name || deal.dealId, owner, "deal-name"),
    cell(deal.account || "—", null, "hide-narrow"),
    cell(formatMoney(deal.amount, deal.currency), null, "num amount"),
    el("td", { className: "num" }, riskBadge(deal.riskScore, deal.category)),
    cell(formatPercent(deal.winProbability), null, "num hide-narrow"),
    verdictCell(deal),
    factorCell(deal.topFactor),
    changeCell(deal.sincePrevious),
    ageCell(deal.scoredAt, now),
  );
}

function cell(text, subText, className) {
  return el("td", { className }, text, subText ? el("span", { className: "sub" }, subText) : null);
}

// The call in force; an override shows the AI's call beside it.
function verdictCell(deal) {
  const verdict = deal.verdict;
  if (!verdict) return cell("—", null, "hide-narrow verdict");
  if (!verdict.override) return cell(`AI ${label(verdict.ai_verdict)}`, null, "hide-narrow verdict");
  return cell(`${label(verdict.override.forecast_category)} (override)`, `AI ${label(verdict.ai_verdict)}`,
              "hide-narrow verdict overridden");
}

function factorCell(factor) {
  if (!factor) return cell("—", null, "wrap hide-narrow");
  const td = cell(factor.label, `${signed(Number(factor.impact), 1)} pts win probability`, "wrap hide-narrow");
  td.title = factor.description || "";
  return td;
}

function changeCell(since) {
  if (!since) return cell("first score", null, "wrap hide-narrow");
  const direction = since.delta > 0 ? "delta-up" : since.delta < 0 ? "delta-down" : "";
  const changes = (since.changes || []).map((c) => c.description).filter(Boolean);
  return el("td", { className: "wrap hide-narrow", title: changes.join("\n") },
    el("span", { className: direction }, `${signed(since.delta)} (was ${since.previous_risk_score})`),
    changes.length
      ? el("span", { className: "sub" }, changes.slice(0, 2).join("; ") + (changes.length > 2 ? "; …" : ""))
      : null);
}

export function ageCell(scoredAt, now) {
  const seconds = Math.max(0, (now - scoredAt) / 1000);
  const td = cell(formatAge(seconds), seconds > STALE_AFTER_S ? "stale" : null, "num age");
  td.title = new Date(scoredAt).toLocaleString();
  return td;
}
