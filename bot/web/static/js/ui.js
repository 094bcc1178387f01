// Small DOM helpers shared by the pages: elements, times in the team's zone, alerts, the dialog.
const { DateTime } = window.luxon;

export const state = { zone: "UTC", me: null, currency: "USD" };

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

export function local(iso) {
  return DateTime.fromISO(iso, { setZone: true }).setZone(state.zone);
}

export function when(iso, format = "ccc d LLL HH:mm") {
  return iso ? local(iso).toFormat(format) : "";
}

export function epoch(seconds, format = "ccc d LLL HH:mm") {
  return seconds ? DateTime.fromSeconds(seconds, { zone: state.zone }).toFormat(format) : "";
}

export function money(amount) {
  return new Intl.NumberFormat("en", { style: "currency", currency: state.currency }).format(amount || 0);
}

export function may(action) {
  return Boolean(state.me && state.me.may.includes(action));
}

export function showError(error, where = document.getElementById("alerts")) {
  const message = error && error.message ? error.message : String(error);
  clear(where, el("div", { class: "alert alert-danger", role: "alert" }, message));
}

export function notify(message, where = document.getElementById("alerts")) {
  clear(where, el("div", { class: "alert alert-success", role: "status" }, message));
}

export function clearAlerts() {
  clear(document.getElementById("alerts"));
}

// One modal for every form: `fields` are elements; `submit` gets the form and returns a
// promise; a refusal is shown inside the dialog, which stays open so nothing typed is lost.
export function openDialog({ title, body, submitLabel, submit, extraButtons = [] }) {
  const dialog = document.getElementById("dialog");
  const modal = window.bootstrap.Modal.getOrCreateInstance(dialog);
  const error = el("div", { class: "alert alert-danger d-none mt-3", role: "alert", id: "dialog-error" });
  document.getElementById("dialog-title").textContent = title;
  clear(document.getElementById("dialog-body"), body, error);
  const buttons = [
    el("button", { type: "button", class: "btn btn-outline-secondary", "data-bs-dismiss": "modal" }, "Close"),
    ...extraButtons,
  ];
  if (submit) buttons.push(el("button", { type: "submit", class: "btn btn-primary", id: "dialog-submit" }, submitLabel));
  clear(document.getElementById("dialog-footer"), buttons);
  const form = document.getElementById("dialog-form");
  form.onsubmit = async (event) => {
    event.preventDefault();
    if (!submit) return;
    await runInDialog(() => submit(form), modal, error);
  };
  for (const button of extraButtons) {
    if (button.dataset.action) button.onclick = () => runInDialog(button.action, modal, error);
  }
  delete dialog.dataset.ready;
  dialog.addEventListener("shown.bs.modal", () => {
    // Bootstrap ignores Escape and Close until its fade-in ends: `data-ready` says it has.
    dialog.dataset.ready = "true";
    (form.querySelector("input, select, textarea, button.btn-primary") || form).focus();
  }, { once: true });
  dialog.addEventListener("hide.bs.modal", () => delete dialog.dataset.ready, { once: true });
  modal.show();
  return modal;
}

async function runInDialog(action, modal, error) {
  const buttons = document.querySelectorAll("#dialog-footer button");
  buttons.forEach((b) => (b.disabled = true));
  try {
    await action();
    modal.hide();
  } catch (failure) {
    error.textContent = failure.message;
    error.classList.remove("d-none");
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

export function field(label, input, help) {
  const id = input.id;
  return el("div", { class: "mb-3" }, el("label", { class: "form-label", for: id }, label), input,
    help ? el("div", { class: "form-text" }, help) : null);
}

export function downloadText(filename, text, type) {
  const link = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// Cost centers list names or fnmatch globs (`payments-*`) of the namespaces they may wake.
export function globMatches(pattern, name) {
  let source = "^";
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i];
    if (c === "*") source += ".*";
    else if (c === "?") source += ".";
    else if (c === "[") {
      const close = pattern.indexOf("]", i + 1);
      if (close < 0) source += "\\[";
      else {
        let set = pattern.slice(i + 1, close).replace(/\\/g, "\\\\");
        if (set.startsWith("!")) set = `^${set.slice(1)}`;
        source += `[${set}]`;
        i = close;
      }
    } else source += c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`${source}$`).test(name);
}

// Stable colour per cost center, so the calendar and the board agree.
const PALETTE = ["#0d6efd", "#198754", "#6f42c1", "#d63384", "#fd7e14", "#20c997", "#0dcaf0", "#6c757d"];
export function colourOf(name) {
  let hash = 0;
  for (const c of name || "") hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

// A coloured dot for a cost center (CSSOM, not a style attribute: the CSP allows only this).
export function dot(costCenter) {
  const node = el("span", { class: "cc-dot", "aria-hidden": "true" });
  node.style.backgroundColor = colourOf(costCenter);
  return node;
}
