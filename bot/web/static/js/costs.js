// Costs: an ISO week's saved vs spent (the same figures as `report weekly --json`).
import { api } from "./api.js";
import { clear, downloadText, el, epoch, local, money, state } from "./ui.js";

let chart = null;
let wired = false;

export async function show() {
  const select = document.getElementById("costs-week");
  if (!wired) {
    wired = true;
    const listing = await api.get("/namespaces");
    let day = local(listing.at);
    for (let i = 0; i < 12; i += 1) {
      const label = day.toFormat("kkkk-'W'WW");
      select.append(el("option", { value: label }, i === 0 ? `${label} (this week, so far)` : label));
      day = day.minus({ weeks: 1 });
    }
    select.addEventListener("change", () => render(select.value));
    document.getElementById("costs-csv").addEventListener("click", async () => {
      const csv = await api.text(`/reports/weekly/${select.value}`, "text/csv");
      downloadText(`namespace-ctl-${select.value}.csv`, csv, "text/csv");
    });
  }
  await render(select.value);
}

function card(label, value, note, id) {
  return el("div", { class: "col-6 col-lg-3" }, el("div", { class: "card h-100" }, el("div", { class: "card-body" },
    el("div", { class: "small text-body-secondary" }, label),
    el("div", { class: "fs-4 fw-semibold", id }, value),
    note ? el("div", { class: "small text-body-secondary" }, note) : null)));
}

function change(now, before) {
  if (before === undefined || before === null) return "no earlier week";
  const delta = now - before;
  const sign = delta > 0 ? "+" : delta < 0 ? "-" : "±";
  return `${sign}${money(Math.abs(delta))} vs the week before`;
}

async function render(week) {
  const report = await api.get(`/reports/weekly/${week}`);
  state.currency = report.currency;
  const previous = report.previous || {};
  clear(document.getElementById("costs-totals"),
    card("Saved", money(report.total_saved), change(report.total_saved, previous.total_saved), "total-saved"),
    card("Spent on activations", money(report.total_activation_cost), change(report.total_activation_cost, previous.total_activation_cost), "total-spent"),
    card("Awake all week would cost", money(report.always_on_cost), `${report.saved_percent}% saved`, "always-on"),
    card("Activations", String(report.cost_centers.reduce((n, cc) => n + cc.activations, 0)), `${report.failures.length} failed operations`, "activations"));
  table("costs-namespaces", ["Namespace", "Asleep h", "Saved", "Cost / h"],
    report.namespaces.map((n) => [n.namespace, n.asleep_hours.toFixed(1), money(n.saved), money(n.hourly_cost)]),
    "No namespace slept this week yet.");
  table("costs-centers", ["Cost center", "Activations", "Hours", "Cost"],
    report.cost_centers.map((c) => [c.cost_center, c.activations, c.hours.toFixed(1), money(c.cost)]),
    "No activation was charged this week.");
  table("costs-requesters", ["User", "Activations", "Hours", "Cost"],
    report.top_requesters.map((r) => [r.user_id, r.activations, r.hours.toFixed(1), money(r.cost)]),
    "Nobody activated a namespace this week.");
  // The figures run to `until` (the week so far): said in words, and kept for the tests.
  const saved = document.getElementById("total-saved");
  saved.dataset.until = String(report.until);
  document.getElementById("costs-until").textContent = `Figures from ${epoch(report.start)} to ${epoch(report.until)} (${state.zone}).`;
  draw(report);
}

function table(id, headings, rows, emptyText) {
  const head = el("thead", {}, el("tr", {}, headings.map((h, i) => el("th", { scope: "col", class: i ? "text-end" : "" }, h))));
  const body = rows.length
    ? rows.map((cells) => el("tr", {}, cells.map((c, i) => (i ? el("td", { class: "text-end" }, c) : el("th", { scope: "row" }, c)))))
    : [el("tr", {}, el("td", { colspan: headings.length, class: "text-body-secondary" }, emptyText))];
  clear(document.getElementById(id), head, el("tbody", {}, body));
}

function draw(report) {
  if (chart) chart.destroy();
  chart = new window.Chart(document.getElementById("costs-chart"), {
    type: "bar",
    data: {
      labels: report.days.map((d) => local(`${d.date}T12:00`).toFormat("ccc d")),
      datasets: [
        { label: `Saved (${report.currency})`, data: report.days.map((d) => d.saved), backgroundColor: "#198754" },
        { label: `Spent (${report.currency})`, data: report.days.map((d) => d.spent), backgroundColor: "#dc3545" },
      ],
    },
    options: { responsive: true, maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true } } },
  });
}
