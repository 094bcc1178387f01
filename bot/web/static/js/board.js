// Status board: every namespace, polled every 10 s while shown; Activate, Extend, End now.
import { api } from "./api.js";
import { clear, dot, el, field, globMatches, may, money, notify, openDialog, showError, state, when } from "./ui.js";

const POLL_MS = 10000;
let timer = null;
let listing = null;
let costCenters = null;

export async function show() {
  wireFilters();
  await refresh();
  clearInterval(timer);
  timer = setInterval(() => refresh().catch(showError), POLL_MS);
}

export function leave() {
  clearInterval(timer);
  timer = null;
}

let wired = false;
function wireFilters() {
  if (wired) return;
  wired = true;
  document.getElementById("board-search").addEventListener("input", render);
  document.getElementById("board-filter").addEventListener("change", render);
}

export async function refresh() {
  listing = await api.get("/namespaces");
  render();
}

function phase(ns) {
  if (ns.window) return ns.window.state === "claimed" ? "waking" : "activated";
  return ns.state;
}

function matches(row, text, filter) {
  if (filter !== "all") {
    if (filter === "excluded" && !row.rule) return false;
    if (filter !== "excluded" && (row.rule || (filter === "activated" ? !row.window : phase(row) !== filter))) return false;
  }
  if (!text) return true;
  const haystack = [row.namespace, row.rule, row.window?.user, row.window?.cost_center].join(" ").toLowerCase();
  return haystack.includes(text);
}

function render() {
  if (!listing) return;
  const text = document.getElementById("board-search").value.trim().toLowerCase();
  const filter = document.getElementById("board-filter").value;
  const hours = listing.business_time ? "business hours" : "after hours";
  document.getElementById("board-now").textContent =
    `${when(listing.at, "cccc HH:mm")}, ${hours}; ${listing.next_state} at ${when(listing.next_transition)}`;
  const read = listing.read_at && listing.read_at !== listing.at ? `; cluster as read at ${when(listing.read_at, "HH:mm:ss")}` : "";
  document.getElementById("board-updated").textContent = `Updated ${when(listing.at, "HH:mm:ss")}, every 10 s${read}`;
  const rows = [
    ...listing.namespaces.filter((ns) => matches(ns, text, filter)).map(namespaceRow),
    ...listing.excluded.filter((ex) => matches(ex, text, filter)).map(excludedRow),
  ];
  clear(document.querySelector("#board-table tbody"), rows);
  const empty = document.getElementById("board-empty");
  empty.classList.toggle("d-none", rows.length > 0);
  empty.textContent = listing.namespaces.length + listing.excluded.length === 0
    ? "No namespaces yet: namespace-ctl manages every namespace of the cluster not in exclude_namespaces."
    : "No namespace matches: clear the search or pick another state.";
}

const BADGES = {
  asleep: ["text-bg-secondary", "asleep"],
  awake: ["text-bg-success", "awake"],
  activated: ["text-bg-primary", "awake by activation"],
  waking: ["text-bg-info", "waking"],
  "partly asleep": ["text-bg-warning", "partly asleep"],
  idle: ["text-bg-light", "idle"],
  "no workloads": ["text-bg-light", "no workloads"],
};

// On a phone the board keeps the namespace, its state, its window and the actions.
const WIDE_ONLY = "d-none d-md-table-cell";

function namespaceRow(ns) {
  const [badge, words] = BADGES[phase(ns)] || ["text-bg-light", ns.state];
  const stateCell = el("td", {}, el("span", { class: `badge ${badge}` }, words),
    ns.state === "asleep" && ns.asleep_since ? el("div", { class: "small text-body-secondary" }, `since ${when(ns.asleep_since)}`) : null,
    // On a phone the window has no column of its own: it is told under the state.
    ns.window ? el("div", { class: "small d-md-none" }, `until ${when(ns.window.until)}, ${ns.window.user}, ${ns.window.cost_center}`) : null);
  const windowCell = ns.window
    ? el("td", { class: WIDE_ONLY }, dot(ns.window.cost_center),
      `until ${when(ns.window.until)}`, el("div", { class: "small text-body-secondary" }, `${ns.window.user}, ${ns.window.cost_center}`))
    : el("td", { class: `text-body-secondary ${WIDE_ONLY}` }, "none");
  return el("tr", { "data-namespace": ns.namespace, "data-state": phase(ns) },
    el("th", { scope: "row" }, ns.namespace),
    stateCell,
    el("td", { class: WIDE_ONLY }, ns.desired),
    windowCell,
    el("td", { class: WIDE_ONLY }, ns.sleeping ? `${ns.workloads} (${ns.sleeping} asleep)` : String(ns.workloads)),
    el("td", { class: `text-end ${WIDE_ONLY}` }, money(ns.hourly_cost)),
    el("td", { class: "text-end actions-cell" }, actions(ns)));
}

function excludedRow(ex) {
  return el("tr", { "data-namespace": ex.namespace, "data-state": "excluded" },
    el("th", { scope: "row" }, ex.namespace),
    el("td", {}, el("span", { class: "badge text-bg-dark" }, "excluded"),
      el("div", { class: "small text-body-secondary text-break d-md-none" }, ex.rule)),
    el("td", { colspan: 5, class: `text-body-secondary text-break ${WIDE_ONLY}` }, `never put to sleep: ${ex.rule}`));
}

function actions(ns) {
  if (!ns.window) {
    return may("activate") ? el("button", { class: "btn btn-sm btn-primary", type: "button", onclick: () => activate(ns.namespace), "aria-label": `Activate ${ns.namespace}` }, "Activate") : null;
  }
  return [
    may("extend") ? el("button", { class: "btn btn-sm btn-outline-primary me-1", type: "button", onclick: () => extend(ns), "aria-label": `Extend ${ns.namespace}` }, "Extend") : null,
    may("deactivate") ? el("button", { class: "btn btn-sm btn-outline-danger", type: "button", onclick: () => end(ns), "aria-label": `End ${ns.namespace} now` }, "End now") : null,
  ];
}

export async function authorizedCostCenters(namespace) {
  if (!costCenters) costCenters = (await api.get("/cost-centers")).cost_centers;
  return costCenters.filter((cc) => cc.is_authorized && cc.authorized_namespaces.some((p) => globMatches(p, namespace)));
}

export function costCenterSelect(id, centers) {
  return el("select", { class: "form-select", id, name: "cost_center", required: true },
    centers.map((cc) => el("option", { value: cc.cost_center }, cc.cost_center)));
}

async function activate(namespace) {
  const centers = await authorizedCostCenters(namespace);
  if (centers.length === 0) {
    openDialog({ title: `Activate ${namespace}`, body: el("p", {}, "No authorized cost center may wake this namespace: an admin adds it to one (cost centers).") });
    return;
  }
  const body = [
    field("Cost center", costCenterSelect("activate-cc", centers)),
    field("Duration", el("input", { class: "form-control", id: "activate-duration", name: "duration", value: "2h", required: true }), "e.g. 90m, 2h, 1h30m; the window ends by itself"),
    field("Reason", el("input", { class: "form-control", id: "activate-reason", name: "reason", required: true }), "recorded in the audit log"),
  ];
  openDialog({
    title: `Activate ${namespace}`,
    body,
    submitLabel: "Activate",
    submit: async (form) => {
      const answer = await api.post(`/namespaces/${encodeURIComponent(namespace)}/activate`, {
        cost_center: form.elements.cost_center.value,
        duration: form.elements.duration.value.trim() || null,
        reason: form.elements.reason.value.trim(),
      });
      notify(`${namespace} is awake until ${when(answer.window.until)}, charged to ${answer.window.cost_center}.`);
      await refresh();
    },
  });
}

function extend(ns) {
  openDialog({
    title: `Extend ${ns.namespace}`,
    body: [el("p", {}, `Its window ends at ${when(ns.window.until)}.`),
      field("Extra time", el("input", { class: "form-control", id: "extend-duration", name: "duration", value: "1h", required: true }), "e.g. 30m or 1h")],
    submitLabel: "Extend",
    submit: async (form) => {
      const answer = await api.post(`/namespaces/${encodeURIComponent(ns.namespace)}/extend`, { duration: form.elements.duration.value.trim() });
      notify(`${ns.namespace} is awake until ${when(answer.until || answer.window?.until)}.`);
      await refresh();
    },
  });
}

function end(ns) {
  openDialog({
    title: `End ${ns.namespace} now`,
    body: el("p", {}, `The window (${ns.window.user}, ${ns.window.cost_center}) ends now and ${ns.namespace} goes back to the schedule${listing.business_time ? "" : ": asleep"}.`),
    submitLabel: "End now",
    submit: async () => {
      await api.post(`/namespaces/${encodeURIComponent(ns.namespace)}/deactivate`);
      notify(`${ns.namespace}'s window ended.`);
      await refresh();
    },
  });
}
