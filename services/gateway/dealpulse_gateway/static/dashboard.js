// DealPulse live dashboard: the latest score per deal and a feed of alerts and verdicts, from /v1/stream.
// Plain JS, no build step. Every value from the server is inserted with textContent, never as HTML.
"use strict";

(() => {
  const TOKEN_KEY = "dealpulse.token";
  const MAX_ROWS = 300;        // rendering more rows per update costs more than a person can read
  const MAX_FEED = 100;
  const STALE_AFTER_S = 14 * 24 * 3600;
  const RETRY_MIN_MS = 500;
  const RETRY_MAX_MS = 10000;

  const state = {
    token: null,
    lastId: null,              // the last stream id received: where a reconnect resumes
    deals: new Map(),          // deal_id -> row model
    deleted: new Map(),        // deal_id -> when the CRM deleted it: only a newer change (a restore) brings it back
    flashed: new Set(),
    retryMs: RETRY_MIN_MS,
    seeded: false,
    renderQueued: false,
    started: false,            // the stream is connected once, whatever signs in later
  };

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ token

  const hashParams = () => new URLSearchParams(location.hash.slice(1));

  function readToken() {
    const params = hashParams();
    const fromUrl = params.get("token");
    if (fromUrl) {
      // Keep it for reloads of this tab, but out of the address bar (and out of anything the URL is pasted into);
      // a deal it was opened on (#token=…&deal=ID) stays.
      sessionStorage.setItem(TOKEN_KEY, fromUrl);
      params.delete("token");
      const rest = params.toString();
      history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
      return fromUrl;
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function tokenClaims(token) {
    try {
      const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(payload));
    } catch {
      return null;
    }
  }

  // ------------------------------------------------------------------ connection

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const params = new URLSearchParams({ token: state.token });
    if (state.lastId) params.set("last_id", state.lastId);
    const socket = new WebSocket(`${scheme}//${location.host}/v1/stream?${params}`);

    socket.onopen = () => {
      setStatus("live", "on");
      state.retryMs = RETRY_MIN_MS;
      if (!state.seeded) seedFromRest();
    };
    socket.onmessage = (event) => {
      try {
        handleMessage(JSON.parse(event.data));
      } catch (error) {
        console.error("unreadable stream message", error);
      }
    };
    socket.onclose = (event) => {
      if (event.code === 4401) {
        setStatus("signed out", "dead");
        showNotice("Your token is invalid or has expired. Get a new one with ", "dealpulse token",
                   " and open this page as /#token=<token>.");
        return;
      }
      if (event.code === 4400) state.lastId = null;   // the server could not use our resume point
      setStatus("reconnecting…", "off");
      const delay = state.retryMs + Math.random() * 250;
      state.retryMs = Math.min(state.retryMs * 2, RETRY_MAX_MS);
      setTimeout(connect, delay);
    };
  }

  function handleMessage(message) {
    if (message.id) state.lastId = message.id;
    switch (message.kind) {
      case "score": upsertScore(message.event); break;
      case "verdict": addFeedItem(verdictItem(message.event)); break;
      case "alert": addFeedItem(alertItem(message.event)); break;
      case "deleted": removeDeal(message.event); break;
      case "gap":
        showNotice("Some updates were missed while disconnected; reloading the at-risk deals.");
        seedFromRest();
        break;
      default: break;
    }
  }

  // The stream starts "from now", so deals scored earlier come from REST: the open high and critical ones.
  async function seedFromRest() {
    state.seeded = true;
    try {
      const response = await fetch("/v1/deals/high-risk?limit=200", {
        headers: { Authorization: `Bearer ${state.token}` },
      });
      if (!response.ok) return;
      const page = await response.json();
      for (const deal of page.deals) {
        upsertRow({
          dealId: deal.deal_id, name: deal.name, account: deal.account_name, stage: deal.stage,
          owner: deal.owner_name || deal.owner_id, amount: deal.amount, currency: "USD",
          riskScore: deal.risk_score, category: deal.risk_category, winProbability: deal.win_probability,
          topFactor: deal.top_factor, sincePrevious: deal.since_previous, modelVersion: deal.model_version,
          scoredAt: Date.parse(deal.scored_at),
        }, false);
      }
    } catch (error) {
      console.warn("could not load the at-risk deals", error);
    }
  }

  // ------------------------------------------------------------------ model

  function upsertScore(event) {
    const data = event.data;
    const deal = data.deal || {};
    upsertRow({
      dealId: event.dealid, name: deal.name, account: deal.account_name, stage: deal.stage,
      owner: deal.owner_name || deal.owner_id, amount: deal.amount, currency: deal.currency || "USD",
      riskScore: data.risk_score, category: data.risk_category, winProbability: data.win_probability,
      topFactor: (data.factors || [])[0], sincePrevious: data.since_previous, modelVersion: data.model_version,
      scoredAt: Date.parse(data.scored_at), modifiedAt: Date.parse(deal.source_modified_at),
    }, true);
  }

  function upsertRow(row, flash) {
    if (state.deleted.has(row.dealId)) {
      // A late score of a change made before the deletion (or a REST seed, which carries no time) stays out.
      if (!(row.modifiedAt > state.deleted.get(row.dealId))) return;
      state.deleted.delete(row.dealId);
    }
    const current = state.deals.get(row.dealId);
    if (current && current.scoredAt > row.scoredAt) return;   // a replayed or seeded older score
    state.deals.set(row.dealId, row);
    if (flash) state.flashed.add(row.dealId);
    queueRender();
  }

  function removeDeal(tombstone) {
    const dealId = tombstone.dealid;
    const deletedAt = Date.parse((tombstone.data.deal || {}).source_modified_at);
    state.deleted.set(dealId, Number.isNaN(deletedAt) ? Infinity : deletedAt);
    state.flashed.delete(dealId);
    if (state.deals.delete(dealId)) queueRender();
  }

  // ------------------------------------------------------------------ rendering

  function queueRender() {
    if (state.renderQueued) return;
    state.renderQueued = true;
    requestAnimationFrame(() => {
      state.renderQueued = false;
      renderDeals();
    });
  }

  function renderDeals() {
    const needle = $("filter").value.trim().toLowerCase();
    const all = [...state.deals.values()];
    const shown = all
      .filter((d) => !needle || [d.name, d.account, d.owner, d.dealId].some((v) => (v || "").toLowerCase().includes(needle)))
      .sort((a, b) => b.riskScore - a.riskScore || b.scoredAt - a.scoredAt);
    const now = Date.now();
    const rows = shown.slice(0, MAX_ROWS).map((deal) => dealRow(deal, now));
    $("deal-rows").replaceChildren(...rows);
    state.flashed.clear();
    $("empty").hidden = all.length > 0;
    $("deal-count").textContent = shown.length > MAX_ROWS
      ? `(top ${MAX_ROWS} of ${shown.length})` : `(${shown.length})`;
    renderCategoryCounts(all);
  }

  function dealRow(deal, now) {
    const tr = document.createElement("tr");
    if (state.flashed.has(deal.dealId)) tr.className = "flash";
    tr.append(
      cell(deal.name || deal.dealId, deal.stage ? `${deal.stage}${deal.owner ? " · " + deal.owner : ""}` : deal.owner),
      cell(deal.account || "—"),
      cell(formatMoney(deal.amount, deal.currency), null, "num"),
      riskCell(deal),
      cell(deal.winProbability == null ? "—" : `${Math.round(deal.winProbability * 100)}%`, null, "num"),
      factorCell(deal.topFactor),
      changeCell(deal.sincePrevious),
      cell(deal.modelVersion || "—", null, "nowrap"),
      ageCell(deal.scoredAt, now),
    );
    return tr;
  }

  function cell(text, subText, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    if (subText) {
      const sub = document.createElement("span");
      sub.className = "sub";
      sub.textContent = subText;
      td.append(sub);
    }
    return td;
  }

  function riskCell(deal) {
    const td = cell("", null, "num");
    const badge = document.createElement("span");
    badge.className = `risk cat-${deal.category}`;
    badge.textContent = deal.riskScore;
    badge.title = deal.category;
    td.append(badge);
    return td;
  }

  function factorCell(factor) {
    if (!factor) return cell("—");
    const impact = Number(factor.impact);
    const td = cell(factor.label, `${impact > 0 ? "+" : ""}${impact.toFixed(1)} pts win probability`, "wrap");
    td.title = factor.description || "";
    return td;
  }

  function changeCell(since) {
    if (!since) return cell("first score", null, "wrap");
    const td = document.createElement("td");
    td.className = "wrap";
    const delta = document.createElement("span");
    delta.className = since.delta > 0 ? "delta-up" : since.delta < 0 ? "delta-down" : "";
    delta.textContent = `${since.delta > 0 ? "+" : ""}${since.delta} (was ${since.previous_risk_score})`;
    td.append(delta);
    const changes = (since.changes || []).map((c) => c.description).filter(Boolean);
    if (changes.length) {
      const sub = document.createElement("span");
      sub.className = "sub";
      sub.textContent = changes.slice(0, 2).join("; ") + (changes.length > 2 ? "; …" : "");
      td.append(sub);
      td.title = changes.join("\n");
    }
    return td;
  }

  function ageCell(scoredAt, now) {
    const seconds = Math.max(0, (now - scoredAt) / 1000);
    const td = cell(formatAge(seconds), seconds > STALE_AFTER_S ? "stale" : null, "num");
    td.title = new Date(scoredAt).toLocaleString();
    return td;
  }

  function renderCategoryCounts(deals) {
    const counts = { critical: 0, high: 0, medium: 0, low: 0 };
    for (const deal of deals) if (deal.category in counts) counts[deal.category] += 1;
    $("category-counts").replaceChildren(...Object.entries(counts).map(([category, n]) => {
      const chip = document.createElement("span");
      chip.className = `chip cat-${category}`;
      chip.textContent = `${n} ${category}`;
      return chip;
    }));
  }

  // ------------------------------------------------------------------ feed

  function verdictItem(event) {
    const data = event.data;
    const name = state.deals.get(event.dealid)?.name || event.dealid;
    const details = [`AI forecast ${label(data.ai_forecast)}`];
    if (data.rep_forecast) details.push(`rep ${label(data.rep_forecast)}`);
    if (data.commit_admission && data.commit_admission !== "not_applicable") {
      details.push(`commit ${label(data.commit_admission)}`);
    }
    return {
      kind: "verdict", time: data.decided_at,
      title: `${name}: AI verdict ${label(data.ai_verdict)}`,
      text: [details.join(" · "), ...(data.reasons || []).slice(0, 1)].join(" — "),
    };
  }

  function alertItem(event) {
    const data = event.data;
    return {
      kind: "alert", time: data.raised_at, title: data.title, text: data.summary,
      link: /^https?:\/\//.test(data.deep_link || "") ? data.deep_link : null,
    };
  }

  function addFeedItem(item) {
    const li = document.createElement("li");
    li.className = item.kind;
    const kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = `${item.kind} · ${new Date(item.time).toLocaleTimeString()}`;
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = item.title;
    li.append(kind, title, document.createTextNode(item.text || ""));
    if (item.link) {
      li.append(document.createTextNode(" · "));
      const a = document.createElement("a");
      a.href = item.link;
      a.textContent = "open deal";
      a.rel = "noopener";
      li.append(a);
    }
    const list = $("feed-items");
    list.prepend(li);
    while (list.children.length > MAX_FEED) list.lastElementChild.remove();
    $("feed-empty").hidden = true;
  }

  // ------------------------------------------------------------------ helpers

  function formatMoney(amount, currency) {
    if (amount == null) return "—";
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency, maximumFractionDigits: 0 }).format(amount);
    } catch {
      return `${Math.round(amount).toLocaleString()} ${currency || ""}`.trim();
    }
  }

  function formatAge(seconds) {
    if (seconds < 60) return `${Math.floor(seconds)}s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
    return `${Math.floor(seconds / 86400)}d`;
  }

  const label = (value) => String(value || "—").replace(/_/g, " ");

  function setStatus(text, kind) {
    const status = $("status");
    status.textContent = text;
    status.className = `status status-${kind}`;
  }

  function showNotice(...parts) {
    const notice = $("notice");
    notice.replaceChildren(...parts.map((part, i) => {
      if (i % 2 === 0) return document.createTextNode(part);
      const code = document.createElement("code");
      code.textContent = part;
      return code;
    }));
    notice.hidden = false;
  }

  // ------------------------------------------------------------------ start

  // ------------------------------------------------------------------ one deal: #deal=ID (an alert's deep link)

  const requestedDeal = () => hashParams().get("deal");

  async function openRequestedDeal() {
    const dealId = requestedDeal();
    if (!dealId) {
      $("deal-detail").hidden = true;
      return;
    }
    if (!state.token) {
      askToSignIn(dealId);
      return;
    }
    let response;
    try {
      response = await fetch(`/v1/deals/${encodeURIComponent(dealId)}`, {
        headers: { Authorization: `Bearer ${state.token}` },
      });
    } catch (error) {
      showDetailMessage(dealId, "The deal could not be loaded; check the connection and reload.");
      return;
    }
    if (requestedDeal() !== dealId) return;   // another deal was asked for meanwhile
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = null;
      askToSignIn(dealId);
    } else if (response.status === 403) {
      showDetailMessage(dealId, "This deal belongs to another rep.");
    } else if (response.status === 404) {
      showDetailMessage(dealId, "No such deal in your tenant (it may have been deleted in the CRM).");
    } else if (response.ok) {
      showDeal(await response.json());
    } else {
      showDetailMessage(dealId, `The deal could not be loaded (${response.status}).`);
    }
  }

  function showDeal(view) {
    const deal = view.deal || {};
    const score = view.score || {};
    const verdict = view.verdict;
    $("detail-title").textContent = deal.name || deal.account_name || deal.deal_id;
    const risk = $("detail-risk");
    risk.hidden = score.risk_score == null;
    risk.className = `risk cat-${score.risk_category || "none"}`;
    risk.textContent = score.risk_score == null ? "" : score.risk_score;
    risk.title = score.risk_category || "";
    $("detail-facts").textContent = [
      deal.account_name, deal.stage && label(deal.stage), deal.owner_name || deal.owner_id,
      formatMoney(deal.amount, deal.currency || "USD"),
      score.win_probability == null ? null : `win probability ${Math.round(score.win_probability * 100)}%`,
      view.deleted_at ? "deleted in the CRM" : null, view.stale ? "stale" : null,
    ].filter(Boolean).join(" · ");
    $("detail-verdict").textContent = verdict
      ? `AI verdict ${label(verdict.ai_verdict)} · AI forecast ${label(verdict.ai_forecast)}` +
        (verdict.commit_admission !== "not_applicable" ? ` · commit ${label(verdict.commit_admission)}` : "")
      : (score.risk_score == null ? "Not scored yet." : "");
    fillList("detail-factors", (score.factors || []).map((f) => `${f.label}: ${f.description}`));
    fillList("detail-recommendations", (score.recommendations || []).map((r) => `${r.action} (${label(r.priority)})`));
    $("deal-detail").hidden = false;
  }

  function showDetailMessage(dealId, text) {
    $("detail-title").textContent = dealId;
    $("detail-risk").hidden = true;
    $("detail-facts").textContent = text;
    $("detail-verdict").textContent = "";
    fillList("detail-factors", []);
    fillList("detail-recommendations", []);
    $("deal-detail").hidden = false;
  }

  function fillList(id, lines) {
    $(id).replaceChildren(...(lines.length ? lines : ["—"]).map((line) => {
      const li = document.createElement("li");
      li.textContent = line;
      return li;
    }));
  }

  function closeDeal() {
    history.replaceState(null, "", location.pathname + location.search);
    $("deal-detail").hidden = true;
  }

  // ------------------------------------------------------------------ sign-in

  function askToSignIn(dealId) {
    setStatus("signed out", "dead");
    showNotice(dealId ? `Sign in to open deal ${dealId}. Paste a token (print one with ` : "No token. Paste one (print it with ",
               "dealpulse token --tenant <tenant> --role manager", ") below, or open this page as /#token=<token>.");
    $("signin").hidden = false;
    $("signin-token").focus();
  }

  function signIn(event) {
    event.preventDefault();
    const token = $("signin-token").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("signin-token").value = "";
    $("signin").hidden = true;
    $("notice").hidden = true;
    begin(token);
  }

  // ------------------------------------------------------------------ start

  function begin(token) {
    state.token = token;
    const claims = tokenClaims(token);
    if (claims) $("who").textContent = `${claims.sub} (${claims.role}) · ${claims.tenant_id}`;
    openRequestedDeal();
    if (state.started) return;
    state.started = true;
    setInterval(queueRender, 1000);   // keeps the age column honest
    connect();
  }

  function start() {
    $("filter").addEventListener("input", queueRender);
    $("signin").addEventListener("submit", signIn);
    $("detail-close").addEventListener("click", closeDeal);
    window.addEventListener("hashchange", () => {
      const token = readToken();
      if (token && token !== state.token) begin(token);
      else openRequestedDeal();
    });
    const token = readToken();
    if (!token) {
      askToSignIn(requestedDeal());
      return;
    }
    begin(token);
  }

  start();
})();
