// DealPulse dashboard: wires the panels to the session and the live feed. ES modules, no build step; every value
// from the server is inserted with textContent (dom.js), never as HTML.

import { addAlert, addVerdict, initAlertsPanel, loadRecentAlerts } from "./alerts_panel.js";
import { $, el, markPainted } from "./dom.js";
import { applyDeletion, applyScore, applyVerdict, initDealTable, refreshDeals, reload as reloadDeals, shownRow,
         whenDealsLoaded } from "./deals_table.js";
import { dealChanged, initDrilldown, openDeal, requestedDeal, showRequestedDeal } from "./drilldown.js";
import { initPipeline, loadPipeline, pipelineChanged } from "./pipeline.js";
import { loadReps, repsChanged } from "./reps.js";
import { onSignedOut, readToken, session, signInWith } from "./session.js";
import { openStream } from "./stream.js";

let restartStream = null;   // set once the feed is open

function handleMessage(message) {
  const event = message.event;
  switch (message.kind) {
    case "score":
      applyScore(event);
      pipelineChanged();
      repsChanged();
      dealChanged(event.dealid);
      break;
    case "verdict":
      addVerdict(event, shownRow(event.dealid)?.name);
      applyVerdict(event);
      refreshDeals();
      pipelineChanged();
      dealChanged(event.dealid);
      break;
    case "alert":
      addAlert(event);
      break;
    case "deleted":
      applyDeletion(event);
      pipelineChanged();
      repsChanged();
      dealChanged(event.dealid);
      break;
    case "gap":
      showNotice("Some updates were missed while disconnected; the figures were reloaded.");
      loadEverything();
      break;
    default:
      break;
  }
}

function loadEverything() {
  loadPipeline();
  reloadDeals();
  loadReps();
  loadRecentAlerts().catch((error) => console.warn("recent alerts not loaded", error));
}

function begin(token) {
  signInWith(token);
  const claims = session.claims;
  $("who").textContent = claims ? `${claims.sub} (${claims.role}) · ${claims.tenant_id}` : "";
  document.body.dataset.role = claims?.role || "";
  showRequestedDeal();
  loadEverything();
  whenDealsLoaded(() => markPainted("dealpulse:first-page"));
  if (restartStream) {
    restartStream();
    return;
  }
  restartStream = openStream({
    onMessage: handleMessage,
    onStatus: setStatus,
    onRejected: () => showNotice("Your token is invalid or has expired. Get a new one with ", "dealpulse token",
                                 " and open this page as /#token=<token>."),
  });
}

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
  $("signin-token").value = "";
  $("signin").hidden = true;
  $("notice").hidden = true;
  begin(token);
}

function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.className = `status status-${kind}`;
}

// Text with every second part set as code: showNotice("Run ", "dealpulse token", " to get one.")
function showNotice(...parts) {
  $("notice").replaceChildren(...parts.map((part, i) => (i % 2 === 0 ? part : el("code", {}, part))));
  $("notice").hidden = false;
}

function start() {
  initDealTable({ onOpen: openDeal });
  initAlertsPanel({ onOpen: openDeal });
  initPipeline();
  initDrilldown({
    onOverridden: () => {
      refreshDeals();
      pipelineChanged();
    },
  });
  onSignedOut(() => askToSignIn(requestedDeal()));
  $("signin").addEventListener("submit", signIn);
  window.addEventListener("hashchange", () => {
    const token = readToken();
    if (token && token !== session.token) begin(token);
    else if (session.token) showRequestedDeal();
    else askToSignIn(requestedDeal());
  });
  const token = readToken();
  if (!token) {
    askToSignIn(requestedDeal());
    return;
  }
  begin(token);
}

start();
