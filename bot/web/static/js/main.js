// The app: sign-in, the nav bar, and one page at a time by the URL's fragment.
import { api, ApiError, setToken, token } from "./api.js";
import { clear, clearAlerts, el, showError, state } from "./ui.js";
import * as board from "./board.js";
import * as calendar from "./calendar.js";
import * as costs from "./costs.js";
import * as audit from "./audit.js";
import * as approvals from "./approvals.js";

const PAGES = { board, calendar, costs, audit, approvals };
let current = null;

async function signIn() {
  try {
    state.me = await api.get("/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return showSignIn(token() ? "that token is not accepted: check it, or ask an admin for one" : "");
    if (error instanceof ApiError && error.status === 403) return showSignIn(error.message);
    throw error;
  }
  const listing = await api.get("/namespaces");
  state.zone = listing.timezone;
  state.currency = listing.namespaces[0]?.currency || "USD";
  document.getElementById("zone").textContent = `Times in ${state.zone}`;
  document.getElementById("who").textContent = `${state.me.name} (${state.me.role})`;
  document.getElementById("sign-out").classList.toggle("d-none", state.me.via !== "token");
  document.getElementById("sign-in").classList.add("d-none");
  await route();
}

function showSignIn(message) {
  state.me = null;
  document.querySelectorAll(".page").forEach((page) => page.classList.add("d-none"));
  document.getElementById("sign-in").classList.remove("d-none");
  document.getElementById("sign-in-error").textContent = message || "";
  document.getElementById("who").textContent = "";
  document.getElementById("token").focus();
}

async function route() {
  if (!state.me) return;
  const name = (location.hash || "#board").slice(1).split("?")[0];
  const page = PAGES[name] ? name : "board";
  if (current && current !== PAGES[page] && current.leave) current.leave();
  current = PAGES[page];
  clearAlerts();
  document.querySelectorAll(".page").forEach((section) => section.classList.toggle("d-none", section.id !== `page-${page}`));
  document.querySelectorAll("[data-page]").forEach((link) => {
    const active = link.dataset.page === page;
    link.classList.toggle("active", active);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  });
  try {
    await current.show();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return showSignIn("your session ended: sign in again");
    showError(error);
  }
}

document.getElementById("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const value = document.getElementById("token").value.trim();
  if (!value) {
    document.getElementById("sign-in-error").textContent = "paste a token first";
    return;
  }
  setToken(value);
  document.getElementById("token").value = "";
  await start();
});

document.getElementById("sign-out").addEventListener("click", () => {
  setToken(null);
  if (current && current.leave) current.leave();
  current = null;
  showSignIn("signed out");
});

window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", (event) => showError(event.reason));

async function start() {
  try {
    await signIn();
  } catch (error) {
    showError(error);
  }
}

clear(document.getElementById("alerts"), el("p", { class: "text-body-secondary" }, "Loading..."));
start();
