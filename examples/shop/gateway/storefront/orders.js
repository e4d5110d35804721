// The order history with live status (server-sent events from the gateway), and the demo
// mailbox where the shop's confirmation mails land.
import { api, explain, formatMoney, h, say, session } from "./api.js";
import { rejection } from "./catalog.js";

const MAILBOX_POLL_MS = 3000;

/** Wires the orders and mailbox views. `context` gives `$` and `onView` (app.js). */
export function initOrders({ $, onView }) {
  let source = null;
  let view = "shop";
  let mailTimer = null;

  async function loadOrders() {
    if (!session()) {
      $("orders").replaceChildren();
      $("orders-empty").textContent = "Log in to see your orders.";
      $("orders-empty").hidden = false;
      return;
    }
    try {
      renderOrders(await api("GET", "/orders"));
    } catch (error) {
      say($("live-status"), explain(error), "error");
    }
  }

  function renderOrders(orders) {
    $("orders-empty").textContent = "No orders yet.";
    $("orders-empty").hidden = orders.length > 0;
    $("orders").replaceChildren(
      ...orders.map((order) =>
        h(
          "li",
          { class: "order", dataset: { testid: "order", orderId: order.id } },
          h(
            "p",
            { class: "head" },
            h("strong", {}, `Order ${order.id}`),
            " · ",
            h("time", { datetime: order.createdAt }, new Date(order.createdAt).toLocaleString()),
            " · ",
            h(
              "span",
              { class: "badge", dataset: { testid: "order-status", status: order.status } },
              order.status,
            ),
          ),
          h(
            "ul",
            { class: "items" },
            order.items.map((item) =>
              h("li", {}, `${item.qty} × ${item.name} at ${formatMoney(item.price)}`),
            ),
          ),
          h(
            "p",
            { class: "sum" },
            order.discount > 0
              ? `${formatMoney(order.subtotal)} − ${formatMoney(order.discount)} (${order.coupon}) = `
              : "",
            h("strong", { dataset: { testid: "order-total" } }, formatMoney(order.total)),
          ),
          order.reason
            ? h(
                "p",
                { class: "reason", dataset: { testid: "order-reason" } },
                `Rejected: ${rejection(order.reason)}`,
              )
            : null,
        ),
      ),
    );
  }

  /** Opens the event stream of the signed-in user's orders (EventSource reconnects by itself). */
  function connect() {
    disconnect();
    const token = session()?.token;
    if (!token) return;
    const indicator = $("live-connection");
    source = new EventSource(`/api/orders/events?token=${encodeURIComponent(token)}`);
    source.addEventListener("open", () => {
      indicator.textContent = "connected";
      indicator.dataset.state = "open";
    });
    source.addEventListener("error", () => {
      // CLOSED: refused (an expired token); otherwise the browser is reconnecting.
      const closed = source?.readyState === EventSource.CLOSED;
      indicator.textContent = closed ? "off" : "reconnecting…";
      indicator.dataset.state = closed ? "closed" : "connecting";
    });
    source.addEventListener("status", (event) => {
      const change = JSON.parse(event.data);
      const text =
        change.status === "rejected"
          ? `Order ${change.orderId} was rejected: ${rejection(change.reason)}`
          : `Order ${change.orderId} is ${change.status}.`;
      say($("live-status"), text, change.status === "rejected" ? "error" : "ok");
      $("live-status").dataset.orderId = change.orderId;
      void loadOrders();
      if (view === "mailbox") void loadMail();
    });
  }

  function disconnect() {
    source?.close();
    source = null;
    $("live-connection").textContent = "off";
    $("live-connection").dataset.state = "closed";
  }

  async function loadMail() {
    const user = session()?.user;
    try {
      const mails = await api("GET", "/mailbox", user ? { to: user.email } : undefined);
      // Newest first, whatever order the mailbox keeps.
      mails.sort((a, b) => String(b.receivedAt).localeCompare(String(a.receivedAt)));
      $("mailbox-empty").hidden = mails.length > 0;
      $("mails").replaceChildren(
        ...mails.map((mail) =>
          h(
            "li",
            { class: "mail", dataset: { testid: "mail", messageId: mail.messageId } },
            h(
              "details",
              {},
              h(
                "summary",
                {},
                h("strong", { dataset: { testid: "mail-subject" } }, mail.subject),
                h(
                  "span",
                  { class: "muted" },
                  ` — to ${[mail.to].flat().join(", ")}, ${new Date(mail.receivedAt).toLocaleString()}`,
                ),
              ),
              h("p", { class: "muted" }, `From ${mail.from}`),
              h("pre", { dataset: { testid: "mail-text" } }, mail.text),
            ),
          ),
        ),
      );
    } catch (error) {
      say($("notice"), explain(error), "error");
    }
  }

  onView((name) => {
    view = name;
    if (name === "orders") void loadOrders();
    clearInterval(mailTimer);
    mailTimer = null;
    if (name === "mailbox") {
      void loadMail();
      // Mail is sent after the order, by another service: look again while the view is open.
      mailTimer = setInterval(() => void loadMail(), MAILBOX_POLL_MS);
    }
  });
  $("mailbox-refresh").addEventListener("click", () => void loadMail());
  window.addEventListener("shop:order", () => void loadOrders());
  window.addEventListener("shop:signed-in", () => {
    connect();
    void loadOrders();
  });
  window.addEventListener("shop:signed-out", () => {
    disconnect();
    void loadOrders();
  });
  if (session()) connect();
}
