// Small DOM helpers shared by every panel. Text goes in with textContent only.

export const $ = (id) => document.getElementById(id);

// el("td", {className: "num", title: "…"}, "text", childNode, …): an element with properties and children
// (strings become text nodes; null and false are skipped).
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else node[key] = value;
  }
  node.append(...children.filter((child) => child != null && child !== false));
  return node;
}

export function riskBadge(score, category) {
  return el("span", { className: `risk cat-${category || "none"}`, title: category || "" },
            score == null ? "—" : String(score));
}

export function fillList(list, lines) {
  list.replaceChildren(...(lines.length ? lines : ["—"]).map((line) => el("li", {}, line)));
}

// Coalesces calls: the first schedules fn after waitMs, later ones until it runs join it, and a call while fn is
// still running schedules one more run after it. A steady feed of events then refetches at most once per waitMs,
// and the last event is always followed by a fetch that saw it.
export function coalesce(fn, waitMs) {
  let timer = null;
  let running = false;
  let again = false;
  const schedule = () => {
    if (timer === null) timer = setTimeout(run, waitMs);
  };
  async function run() {
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await fn();
    } catch (error) {
      console.warn("refresh failed", error);
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  }
  return schedule;
}

// A User Timing mark once what was just put in the DOM has been painted (the frame after it): the milestones
// `dealpulse bench dashboard` reads (dealpulse:pipeline, dealpulse:first-page, dealpulse:charts).
export function markPainted(name) {
  if (performance.getEntriesByName(name).length) return;
  requestAnimationFrame(() => setTimeout(() => {
    if (!performance.getEntriesByName(name).length) performance.mark(name);
  }, 0));
}
