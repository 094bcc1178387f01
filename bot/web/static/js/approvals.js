// Approvals: pending requests with Approve and Deny (with a reason) for those who may.
import { api } from "./api.js";
import { clear, el, field, may, notify, openDialog, state, when } from "./ui.js";

export async function show() {
  const { requests } = await api.get("/requests?status=pending");
  const badge = document.getElementById("pending-count");
  badge.textContent = requests.length ? String(requests.length) : "";
  badge.classList.toggle("d-none", requests.length === 0);
  document.getElementById("approvals-who").textContent = may("approve")
    ? "You may approve or deny any request but your own; the requester is told in Slack."
    : "Only an admin approves or denies; you may withdraw your own requests.";
  clear(document.querySelector("#approvals-table tbody"), requests.map(row));
  const empty = document.getElementById("approvals-empty");
  empty.classList.toggle("d-none", requests.length > 0);
  empty.textContent = "Nothing waits for a decision. Requests appear here when someone asks (Slack, the calendar or the API).";
}

function row(r) {
  const window = r.starts_at ? `${when(r.starts_at)}, ${r.duration_minutes} min` : `now, ${r.duration_minutes} min`;
  return el("tr", { "data-request": r.request_id },
    el("th", { scope: "row" }, r.namespace),
    el("td", {}, window),
    el("td", {}, r.cost_center),
    el("td", {}, r.requester),
    el("td", {}, r.reason),
    el("td", { class: "text-nowrap" }, when(r.expires_at)),
    el("td", { class: "text-end text-nowrap" }, actions(r)));
}

function actions(r) {
  const buttons = [];
  if (may("approve") && r.requester !== state.me.name) {
    buttons.push(el("button", { type: "button", class: "btn btn-sm btn-success me-1", onclick: () => approve(r), "aria-label": `Approve ${r.namespace} for ${r.requester}` }, "Approve"));
    buttons.push(el("button", { type: "button", class: "btn btn-sm btn-outline-danger me-1", onclick: () => deny(r), "aria-label": `Deny ${r.namespace} for ${r.requester}` }, "Deny"));
  }
  if (may("cancel") && (r.requester === state.me.name || may("approve"))) {
    buttons.push(el("button", { type: "button", class: "btn btn-sm btn-outline-secondary", onclick: () => withdraw(r), "aria-label": `Withdraw ${r.namespace}` }, "Withdraw"));
  }
  return buttons;
}

async function approve(r) {
  try {
    await api.post(`/requests/${r.request_id}/approve`);
    notify(`Approved ${r.namespace} for ${r.requester}.`);
  } catch (error) {
    clear(document.getElementById("alerts"), el("div", { class: "alert alert-danger", role: "alert" }, error.message));
  }
  await show();
}

function deny(r) {
  openDialog({
    title: `Deny ${r.namespace} for ${r.requester}`,
    body: field("Reason", el("input", { class: "form-control", id: "deny-reason-approvals", name: "reason", required: true }), "told to the requester"),
    submitLabel: "Deny",
    submit: async (form) => {
      await api.post(`/requests/${r.request_id}/deny`, { reason: form.elements.reason.value.trim() });
      notify(`Denied ${r.namespace} for ${r.requester}.`);
      await show();
    },
  });
}

function withdraw(r) {
  openDialog({
    title: `Withdraw the request for ${r.namespace}`,
    body: el("p", {}, `${r.requester}'s request (${r.reason}) is withdrawn; nothing is woken.`),
    submitLabel: "Withdraw",
    submit: async () => {
      await api.remove(`/requests/${r.request_id}`);
      notify(`Withdrawn: ${r.namespace}.`);
      await show();
    },
  });
}
