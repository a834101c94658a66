// The deal table: every open deal from GET /v1/deals, sorted, filtered and paged by the server, with the rows on
// screen patched live from the feed and the page refetched (coalesced) so order and membership stay right.

import { $, coalesce } from "./dom.js";
import { formatCount } from "./format.js";
import { api } from "./session.js";
import { ageCell, dealRow, rowFromRest, rowFromScore } from "./deal_rows.js";

const REFETCH_MS = 1500;
// The filter form's fields, each the query parameter of the same name; empty ones are left out.
const FILTER_FIELDS = ["risk_category", "owner", "stage", "forecast_category", "verdict", "min_amount",
                       "max_amount"];
const FLAGS = ["stale", "overridden"];   // checkboxes: only the deals that are

const table = {
  rows: [],                 // the page on screen, row models in server order
  live: new Map(),          // deal id -> {row, receivedAt}: live scores a refetch begun before them cannot know
  flashed: new Set(),
  sortBy: "risk_score",
  order: "desc",
  offset: 0,
  totalCount: null,
  loaded: false,
  onLoaded: [],
};

const refetch = coalesce(load, REFETCH_MS);

export function initDealTable({ onOpen }) {
  const form = $("deal-filters");
  form.addEventListener("change", () => reload());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    reload();
  });
  for (const header of document.querySelectorAll("#deal-table th[data-sort]")) {
    header.addEventListener("click", () => sortBy(header.dataset.sort));
  }
  $("deals-page-size").addEventListener("change", () => reload());
  $("deals-prev").addEventListener("click", () => page(-1));
  $("deals-next").addEventListener("click", () => page(+1));
  const open = (event) => {
    const row = event.target.closest("tr[data-deal-id]");
    if (row && (event.type === "click" || event.key === "Enter")) onOpen(row.dataset.dealId);
  };
  $("deal-rows").addEventListener("click", open);
  $("deal-rows").addEventListener("keydown", open);
  setInterval(refreshAges, 1000);   // keeps the age column honest without redrawing (and unflashing) rows
}

export const whenDealsLoaded = (callback) => (table.loaded ? callback() : table.onLoaded.push(callback));

export function reload() {
  table.offset = 0;
  return load();
}

export function applyScore(event) {
  const index = table.rows.findIndex((row) => row.dealId === event.dealid);
  const row = rowFromScore(event, index >= 0 ? table.rows[index] : {});
  table.live.set(row.dealId, { row, receivedAt: performance.now() });
  if (index >= 0) {
    table.rows[index] = row;
    table.flashed.add(row.dealId);
    render();
  }
  refetch();   // it may enter, leave or move within this page
}

export function applyDeletion(event) {
  table.live.delete(event.dealid);
  const before = table.rows.length;
  table.rows = table.rows.filter((row) => row.dealId !== event.dealid);
  if (table.rows.length !== before) render();
  refetch();
}

// A verdict from the feed (it carries any override in force) replaces the one a row shows.
export function applyVerdict(event) {
  const row = table.rows.find((r) => r.dealId === event.dealid);
  if (!row) return;
  const data = event.data;
  row.verdict = { ...row.verdict, ai_forecast: data.ai_forecast, ai_verdict: data.ai_verdict,
                  commit_admission: data.commit_admission, decided_at: data.decided_at, override: data.override };
  render();
}

export const refreshDeals = () => refetch();

function sortBy(column) {
  table.order = table.sortBy === column && table.order === "desc" ? "asc" : "desc";
  table.sortBy = column;
  reload();
}

function page(direction) {
  const limit = pageSize();
  const next = table.offset + direction * limit;
  if (next < 0 || (table.totalCount != null && next >= table.totalCount)) return;
  table.offset = next;
  load();
}

const pageSize = () => Number($("deals-page-size").value);

function query() {
  const form = new FormData($("deal-filters"));
  const params = new URLSearchParams({
    sort_by: table.sortBy, order: table.order, limit: String(pageSize()), offset: String(table.offset),
  });
  for (const field of FILTER_FIELDS) {
    const value = String(form.get(field) || "").trim();
    if (value) params.set(field, value);
  }
  for (const flag of FLAGS) if (form.get(flag)) params.set(flag, "true");
  return params;
}

let latestRequest = 0;

async function load() {
  const request = ++latestRequest;
  const startedAt = performance.now();
  const answer = await api(`/v1/deals?${query()}`).catch((error) => ({ error }));
  if (request !== latestRequest) return;   // a newer sort, filter or page was asked for meanwhile
  if (answer.error) {
    $("deals-error").textContent = `The deals could not be loaded: ${answer.error.message}`;
    $("deals-error").hidden = false;
    return;
  }
  $("deals-error").hidden = true;
  for (const [dealId, { receivedAt }] of table.live) if (receivedAt < startedAt) table.live.delete(dealId);
  table.rows = answer.deals.map((deal) => newest(rowFromRest(deal)));
  table.totalCount = answer.pagination.total_count;
  render();
  if (!table.loaded) {
    table.loaded = true;
    for (const callback of table.onLoaded.splice(0)) callback();
  }
}

// A row the server sent, unless a live score newer than what it read has arrived since.
function newest(row) {
  const live = table.live.get(row.dealId)?.row;
  return live && live.scoredAt > row.scoredAt ? { ...row, ...live, verdict: row.verdict } : row;
}

function render() {
  const now = Date.now();
  $("deal-rows").replaceChildren(...table.rows.map((row) => dealRow(row, now, table.flashed.has(row.dealId))));
  table.flashed.clear();
  $("deals-empty").hidden = table.rows.length > 0 || !table.loaded;
  const total = table.totalCount ?? 0;
  const first = total ? table.offset + 1 : 0;
  $("deal-count").textContent = `(${formatCount(total)})`;
  $("deals-range").textContent = `${formatCount(first)}–${formatCount(table.offset + table.rows.length)} of ` +
    formatCount(total);
  $("deals-prev").disabled = table.offset === 0;
  $("deals-next").disabled = table.offset + table.rows.length >= total;
  for (const header of document.querySelectorAll("#deal-table th[data-sort]")) {
    const active = header.dataset.sort === table.sortBy;
    header.setAttribute("aria-sort", active ? (table.order === "asc" ? "ascending" : "descending") : "none");
  }
}

function refreshAges() {
  const now = Date.now();
  const cells = $("deal-rows").querySelectorAll("td.age");
  table.rows.forEach((row, i) => cells[i]?.replaceWith(ageCell(row.scoredAt, now)));
}

export const shownRow = (dealId) => table.rows.find((row) => row.dealId === dealId);
