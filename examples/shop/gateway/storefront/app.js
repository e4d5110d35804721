// The storefront: plain HTML, CSS and ES modules, served as they are by the gateway.
//
// Why no framework, no CDN and no build step: the shop is a demo of the services behind it, and
// this page should be readable by anyone who opens it. Zero dependencies means nothing to
// install, audit or keep up to date; everything comes from the gateway, so it works offline and
// under a strict Content-Security-Policy (no inline script, nothing from other origins); and with
// nothing to bundle or transpile, the file you read is the file the browser runs. Modern
// browsers give all it needs: modules, fetch, EventSource, sessionStorage and localStorage.
//
// This module wires the page: the views (one section per `#hash`), the account forms and the
// header. The catalog and cart live in catalog.js; orders, live status and mail in orders.js.
import { api, explain, say, session, setSession } from "./api.js";
import { initCatalog } from "./catalog.js";
import { initOrders } from "./orders.js";

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

const views = ["shop", "orders", "mailbox", "account"];
const listeners = new Set();

/** Shows the view named by the location's hash (default: the shop) and tells the modules. */
function showView() {
  const wanted = location.hash.slice(1);
  const name = views.includes(wanted) ? wanted : "shop";
  for (const section of document.querySelectorAll("[data-view]")) {
    section.hidden = section.dataset.view !== name;
  }
  for (const link of document.querySelectorAll("nav a[href^='#']")) {
    if (link.getAttribute("href") === `#${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const listener of listeners) listener(name);
}

/** Reflects the session in the header and the account view. */
function showSession() {
  const user = session()?.user;
  $("current-user").textContent = user ? `Signed in as ${user.name}` : "Not signed in";
  $("signed-in").hidden = !user;
  $("signed-out").hidden = Boolean(user);
  $("account-name").textContent = user ? `${user.name} (${user.email})` : "";
  $("nav-admin").hidden = user?.role !== "admin";
}

/** Logs in, keeps the token for this tab, and tells the rest of the page. */
async function logIn(email, password) {
  const { token, user } = await api("POST", "/login", { email, password });
  setSession({ token, user });
  say($("notice"), `Welcome, ${user.name}.`, "ok");
  window.dispatchEvent(new CustomEvent("shop:signed-in"));
}

function initAccount() {
  const loginForm = $("login-form");
  loginForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(loginForm);
    say($("login-status"), "Logging in…");
    try {
      await logIn(String(data.get("email")), String(data.get("password")));
      say($("login-status"), "");
      loginForm.reset();
      location.hash = "#shop";
    } catch (error) {
      say($("login-status"), explain(error), "error");
    }
  });

  const registerForm = $("register-form");
  registerForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(registerForm);
    const email = String(data.get("email"));
    const password = String(data.get("password"));
    say($("register-status"), "Creating your account…");
    try {
      await api("POST", "/register", { name: String(data.get("name")), email, password });
      await logIn(email, password);
      say($("register-status"), "");
      registerForm.reset();
      say($("notice"), "Welcome! Your account is ready.", "ok");
      location.hash = "#shop";
    } catch (error) {
      say($("register-status"), explain(error), "error");
    }
  });

  $("logout").addEventListener("click", () => {
    setSession(null);
    window.dispatchEvent(new CustomEvent("shop:signed-out"));
    say($("notice"), "You are signed out.");
  });
}

initAccount();
const context = {
  $,
  /** Calls `listener(viewName)` whenever the view changes (and once now). */
  onView: (listener) => listeners.add(listener),
  /** Sends the visitor to the account view with a reason. */
  askToLogIn: (why) => {
    say($("notice"), why, "error");
    location.hash = "#account";
  },
};
initCatalog(context);
initOrders(context);
window.addEventListener("shop:signed-in", showSession);
window.addEventListener("shop:signed-out", showSession);
window.addEventListener("hashchange", showView);
showSession();
showView();
document.body.dataset.ready = "true";
