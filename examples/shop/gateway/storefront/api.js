// What the storefront (app.js) and the admin page (admin.js) share: calls to the shop's API,
// the session (the token lives in sessionStorage: it goes when the tab closes), money, and a
// small helper to build DOM nodes without ever parsing data as HTML.

const SESSION_KEY = "shop.session";

/** An API failure: the problem+json answer's `code`, `status`, `detail` and `data`. */
export class ApiError extends Error {
  constructor(problem, status) {
    super(problem.detail ?? `HTTP ${status}`);
    this.code = problem.code ?? "HTTP_ERROR";
    this.status = status;
    this.data = problem.data;
  }
}

/** The signed-in session `{ token, user }`, or `null`. */
export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "null");
  } catch {
    return null;
  }
}

/** Keeps (or, with `null`, forgets) the session. */
export function setSession(value) {
  if (value === null) sessionStorage.removeItem(SESSION_KEY);
  else sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
}

/**
 * Calls the API: `api("GET", "/products", { q: "mug" })` puts params in the query for GET,
 * in a JSON body otherwise; sends the session's token. Resolves with the JSON answer, rejects
 * with an {@link ApiError}. A 401 on a call that sent a token ends the session.
 */
export async function api(method, path, params) {
  const current = session();
  let url = `/api${path}`;
  const init = { method, headers: { accept: "application/json" } };
  if (current?.token) init.headers.authorization = `Bearer ${current.token}`;
  if (params !== undefined && (method === "GET" || method === "DELETE")) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
    }
    if (query.size > 0) url += `?${query}`;
  } else if (params !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(params);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  const body = text === "" ? null : JSON.parse(text);
  if (!response.ok) {
    if (response.status === 401 && current?.token) {
      setSession(null);
      window.dispatchEvent(new CustomEvent("shop:signed-out"));
    }
    throw new ApiError(body ?? {}, response.status);
  }
  return body;
}

const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

/** Cents as a price: `1999` → `$19.99`. */
export function formatMoney(cents) {
  return money.format(cents / 100);
}

/** A price typed in dollars (`"19.99"`) as cents, or `NaN`. */
export function parseMoney(text) {
  const value = Number(text);
  return Number.isFinite(value) ? Math.round(value * 100) : Number.NaN;
}

/**
 * Builds an element: `h("li", { class: "card", dataset: { testid: "x" } }, "text", child)`.
 * Strings become text nodes, so names and mail bodies are never read as markup.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(element.dataset, value);
    else if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key in element && key !== "list") element[key] = value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  element.append(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return element;
}

/** Shows `message` in a status element (an `aria-live` region), as an error or not. */
export function say(element, message, kind = "info") {
  element.textContent = message;
  element.dataset.kind = kind;
}

/** A sentence for an API error, with the details the shop's codes carry. */
export function explain(error) {
  if (!(error instanceof ApiError)) return "The shop cannot be reached. Try again.";
  switch (error.code) {
    case "INVALID_CREDENTIALS":
      return "Wrong email or password.";
    case "EMAIL_TAKEN":
      return "An account with this email exists already: log in instead.";
    case "RATE_LIMITED":
      return "Too many attempts. Wait a minute and try again.";
    case "VALIDATION_ERROR":
      return `Please check the form: ${error.message}`;
    case "UNAUTHORIZED":
      return "Please log in first.";
    case "FORBIDDEN":
      return "This needs an administrator's account.";
    default:
      return error.message;
  }
}
