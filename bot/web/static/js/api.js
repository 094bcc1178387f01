// The page's only way to the server: /api/v1 with the bearer token of this tab (or none,
// behind an authenticating proxy). Every failure becomes an ApiError carrying the API's words.
const TOKEN_KEY = "namespace-ctl.token";

export class ApiError extends Error {
  constructor(status, word, message, field) {
    super(message);
    this.status = status;
    this.word = word;
    this.field = field;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra) {
  const result = { Accept: "application/json", ...extra };
  const bearer = token();
  if (bearer) result.Authorization = `Bearer ${bearer}`;
  return result;
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's page, say
  }
  if (body && body.message) return new ApiError(response.status, body.error, body.message, body.field);
  return new ApiError(response.status, "error", `the server answered ${response.status} ${response.statusText}`);
}

async function send(method, path, body, accept) {
  const init = { method, headers: headers(accept ? { Accept: accept } : {}), credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, init);
  } catch (error) {
    throw new ApiError(0, "unreachable", `the server did not answer (${error.message}); try again in a moment`);
  }
  if (!response.ok) throw await failure(response);
  return response;
}

export const api = {
  async get(path) {
    return (await send("GET", path)).json();
  },
  async text(path, accept) {
    return (await send("GET", path, undefined, accept)).text();
  },
  async post(path, body = {}) {
    return (await send("POST", path, body)).json();
  },
  async remove(path) {
    const response = await send("DELETE", path);
    return response.status === 204 ? null : response.json();
  },
};

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
