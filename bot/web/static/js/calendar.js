// Calendar: the sleep schedule shaded, activation windows and bookings as events coloured by
// cost center, pending requests marked; select an after-hours range to ask for a booking.
import { api, query } from "./api.js";
import { authorizedCostCenters, costCenterSelect } from "./board.js";
import { clear, colourOf, el, field, may, money, notify, openDialog, state, when } from "./ui.js";

let calendar = null;
let namespaces = [];

export async function show() {
  const listing = await api.get("/namespaces");
  namespaces = listing.namespaces.map((ns) => ns.namespace);
  document.getElementById("calendar-hint").textContent = may("request")
    ? `Times in ${state.zone}. Select a range to ask for a booking; click an event for its details.`
    : `Times in ${state.zone}. Click an event for its details.`;
  legend();
  if (calendar) {
    calendar.refetchEvents();
    return;
  }
  calendar = new window.FullCalendar.Calendar(document.getElementById("calendar"), {
    timeZone: state.zone,
    now: listing.at,
    initialDate: listing.at,
    initialView: window.innerWidth < 768 ? "timeGridDay" : "timeGridWeek",
    headerToolbar: { left: "prev,next today", center: "title", right: "dayGridMonth,timeGridWeek,timeGridDay" },
    firstDay: 1,
    nowIndicator: true,
    allDaySlot: false,
    height: "auto",
    slotDuration: "01:00:00",
    eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
    slotLabelFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
    selectable: may("request"),
    selectMirror: true,
    select: (info) => book(info),
    events: (info, success, failure) => load(info).then(success, failure),
    eventClick: (info) => details(info.event),
    eventDidMount: (info) => {
      const { kind, status } = info.event.extendedProps;
      info.el.dataset.kind = kind;
      if (status) info.el.dataset.status = status;
      info.el.setAttribute("title", info.event.title);
    },
  });
  calendar.render();
}

function legend() {
  clear(document.getElementById("calendar-legend"),
    el("span", { class: "legend-sleep me-3" }, "Shaded: asleep by schedule (nights, weekends, holidays)"),
    el("span", { class: "legend-pending me-3" }, "Dashed: pending approval"),
    el("span", {}, "Colour: cost center"));
}

async function load(info) {
  const answer = await api.get(`/calendar${query({ start: info.startStr, end: info.endStr })}`);
  return answer.events.map(toFullCalendar);
}

function toFullCalendar(event) {
  const base = { id: event.id, start: event.start, end: event.end, extendedProps: event };
  if (event.kind === "sleep") {
    return { ...base, title: event.title, display: "background", classNames: ["ev-sleep", `ev-${event.reason}`] };
  }
  const pending = event.status === "pending";
  const colour = colourOf(event.cost_center);
  const classes = [`ev-${event.kind}`];
  if (pending) classes.push("ev-pending");
  if (event.status === "past") classes.push("ev-past");
  return {
    ...base,
    title: pending ? `Pending: ${event.title}` : event.title,
    backgroundColor: pending ? "#ffffff" : colour,
    borderColor: colour,
    textColor: pending ? colour : "#ffffff",
    classNames: classes,
  };
}

function describe(e) {
  const rows = [
    ["What", e.kind === "sleep" ? `asleep: ${e.holiday ? `holiday, ${e.holiday}` : e.reason}` : e.kind],
    ["From", when(e.start)],
    ["To", when(e.end)],
    ["Namespace", e.namespace],
    ["Who", e.user],
    ["Cost center", e.cost_center],
    ["Why", e.kind === "sleep" ? null : e.reason],
    ["Status", e.status],
    ["Cost", e.cost === null || e.cost === undefined ? null : money(e.cost)],
  ];
  return el("dl", { class: "row mb-0" }, rows.filter(([, v]) => v).map(([k, v]) => [el("dt", { class: "col-4" }, k), el("dd", { class: "col-8" }, v)]));
}

function details(event) {
  const e = event.extendedProps;
  const decidable = e.request_id && e.status === "pending" && may("approve");
  const extra = [];
  let body = [describe(e)];
  if (decidable) {
    const reason = el("input", { class: "form-control", id: "deny-reason", name: "deny_reason" });
    body = [...body, el("hr"), field("Reason (to deny)", reason, "told to the requester")];
    extra.push(actionButton("Deny", "btn-outline-danger", async () => {
      if (!reason.value.trim()) throw new Error("write the reason for the denial first: the requester is told it");
      await api.post(`/requests/${e.request_id}/deny`, { reason: reason.value.trim() });
      notify(`Denied: ${e.namespace} from ${when(e.start)}; ${e.user} is told why.`);
      calendar.refetchEvents();
    }));
    extra.push(actionButton("Approve", "btn-success", async () => {
      await api.post(`/requests/${e.request_id}/approve`);
      notify(`Approved: ${e.namespace} from ${when(e.start)} to ${when(e.end)} (${e.cost_center}).`);
      calendar.refetchEvents();
    }));
  }
  openDialog({ title: e.title, body, extraButtons: extra });
}

function actionButton(label, style, action) {
  const button = el("button", { type: "button", class: `btn ${style}`, "data-action": label.toLowerCase() }, label);
  button.action = action;
  return button;
}

async function book(info) {
  calendar.unselect();
  const minutes = Math.round((info.end - info.start) / 60000);
  const choose = el("select", { class: "form-select", id: "book-namespace", name: "namespace", required: true },
    namespaces.map((ns) => el("option", { value: ns }, ns)));
  const centersBox = el("div", {});
  const fillCenters = async () => {
    const centers = await authorizedCostCenters(choose.value);
    clear(centersBox, centers.length
      ? field("Cost center", costCenterSelect("book-cc", centers))
      : el("p", { class: "text-danger" }, "No authorized cost center may wake this namespace: pick another, or ask an admin."));
  };
  choose.addEventListener("change", fillCenters);
  await fillCenters();
  openDialog({
    title: "Ask for a booking",
    body: [
      el("p", {}, `${when(info.startStr)} to ${when(info.endStr)} (${state.zone}); an approver decides.`),
      field("Namespace", choose),
      centersBox,
      field("Reason", el("input", { class: "form-control", id: "book-reason", name: "reason", required: true })),
    ],
    submitLabel: "Ask",
    submit: async (form) => {
      if (!form.elements.cost_center) throw new Error("this namespace has no cost center that may wake it");
      const answer = await api.post("/requests", {
        namespace: choose.value,
        cost_center: form.elements.cost_center.value,
        reason: form.elements.reason.value.trim(),
        starts_at: info.startStr,
        duration: `${minutes}m`,
      });
      notify(`Asked: ${answer.namespace} from ${when(answer.starts_at)}, pending approval.`);
      calendar.refetchEvents();
    },
  });
}
