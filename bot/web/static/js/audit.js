// Audit log: the records newest first, filtered, a page at a time; CSV of every match.
import { api, query } from "./api.js";
import { clear, downloadText, el, epoch, local, state } from "./ui.js";

const PAGE = 50;
const EXPORT_LIMIT = 10000;
let cursor = null;
let wired = false;

export async function show() {
  if (!wired) {
    wired = true;
    document.getElementById("audit-form").addEventListener("submit", (event) => {
      event.preventDefault();
      load(false).catch(showInline);
    });
    document.getElementById("audit-more").addEventListener("click", () => load(true).catch(showInline));
    document.getElementById("audit-csv").addEventListener("click", () => exportCsv().catch(showInline));
  }
  await load(false);
}

function showInline(error) {
  clear(document.getElementById("alerts"), el("div", { class: "alert alert-danger", role: "alert" }, error.message));
}

function filters() {
  const form = document.getElementById("audit-form");
  const day = (value) => (value ? local(`${value}T00:00`).toISO() : undefined);
  // Dates are days in the team's zone; `until` is exclusive like the API's.
  return {
    namespace: form.elements.namespace.value.trim(),
    operation: form.elements.operation.value,
    user: form.elements.user.value.trim(),
    since: day(form.elements.since.value),
    until: day(form.elements.until.value),
  };
}

async function load(more) {
  const page = await api.get(`/history${query({ ...filters(), limit: PAGE, cursor: more ? cursor : undefined })}`);
  cursor = page.next_cursor;
  const body = document.querySelector("#audit-table tbody");
  const rows = page.records.map(row);
  if (more) body.append(...rows);
  else clear(body, rows);
  document.getElementById("audit-more").classList.toggle("d-none", !cursor);
  const empty = document.getElementById("audit-empty");
  empty.classList.toggle("d-none", body.children.length > 0);
  empty.textContent = "No record matches: widen the dates or clear a filter.";
}

function details(record) {
  const parts = [];
  if (record.reason) parts.push(`why: ${record.reason}`);
  if (record.error_message) parts.push(record.error_message);
  if (record.duration_minutes) parts.push(`${record.duration_minutes} min`);
  if (record.workloads && record.workloads.length) parts.push(`${record.workloads.length} workloads`);
  return parts.join("; ");
}

function row(record) {
  return el("tr", { "data-operation": record.operation_type },
    el("td", { class: "text-nowrap" }, epoch(record.timestamp_start)),
    el("td", { class: "text-nowrap" }, record.timestamp_end ? epoch(record.timestamp_end) : "open"),
    el("td", {}, record.namespace_name),
    el("td", {}, record.operation_type),
    el("td", {}, record.user_id || ""),
    el("td", {}, record.cost_center || ""),
    el("td", {}, record.status),
    el("td", { class: "small" }, details(record)));
}

const COLUMNS = ["namespace_name", "timestamp_start", "timestamp_end", "duration_minutes", "operation_type", "user_id", "cost_center", "status", "error_message", "reason"];

function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

async function exportCsv() {
  const lines = [[...COLUMNS, "workloads", "start_local"].join(",")];
  let next = null;
  let count = 0;
  do {
    const page = await api.get(`/history${query({ ...filters(), limit: 1000, cursor: next })}`);
    for (const record of page.records) {
      lines.push([...COLUMNS.map((c) => csvCell(record[c])), csvCell(record.workloads.length), csvCell(epoch(record.timestamp_start, "yyyy-LL-dd HH:mm:ss"))].join(","));
    }
    count += page.records.length;
    next = page.next_cursor;
  } while (next && count < EXPORT_LIMIT);
  downloadText(`namespace-ctl-audit-${state.zone.replace("/", "-")}.csv`, `${lines.join("\r\n")}\r\n`, "text/csv");
}
