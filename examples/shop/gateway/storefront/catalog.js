// The catalog (search and pages of products), the cart (kept in localStorage, so it survives a
// reload and a log-in) with its coupon, and the checkout.
import { api, explain, formatMoney, h, say, session } from "./api.js";

const CART_KEY = "shop.cart";
const PAGE_SIZE = 8;

const COUPON_REASONS = {
  unknown: "There is no coupon with this code.",
  not_started: "This coupon is not valid yet.",
  expired: "This coupon has expired.",
  used_up: "This coupon has been used up.",
  used_by_you: "You have used this coupon already.",
};

/** A sentence for a coupon refusal (`COUPON_INVALID` with `data.reason`). */
export function couponReason(reason) {
  return COUPON_REASONS[reason] ?? "This coupon cannot be used.";
}

/** The cart: `[{ productId, name, price, qty }]`. */
function readCart() {
  try {
    const lines = JSON.parse(localStorage.getItem(CART_KEY) ?? "[]");
    return Array.isArray(lines) ? lines : [];
  } catch {
    return [];
  }
}

function writeCart(lines) {
  localStorage.setItem(CART_KEY, JSON.stringify(lines));
}

/** Wires the shop view. `context` gives `$`, `onView` and `askToLogIn` (app.js). */
export function initCatalog({ $, askToLogIn }) {
  const state = { page: 1, q: "", total: 0, coupon: null };

  async function loadProducts() {
    try {
      const result = await api("GET", "/products", {
        q: state.q,
        page: state.page,
        pageSize: PAGE_SIZE,
      });
      state.total = result.total;
      renderProducts(result.items);
    } catch (error) {
      say($("product-count"), explain(error), "error");
    }
  }

  function renderProducts(items) {
    const pages = Math.max(1, Math.ceil(state.total / PAGE_SIZE));
    const found = state.q ? ` for “${state.q}”` : "";
    $("product-count").textContent =
      `${state.total} product${state.total === 1 ? "" : "s"}${found}`;
    $("page-info").textContent = `Page ${state.page} of ${pages}`;
    $("page-prev").disabled = state.page <= 1;
    $("page-next").disabled = state.page >= pages;
    $("products").replaceChildren(
      ...items.map((product) =>
        h(
          "li",
          { class: "product", dataset: { testid: "product-card", productId: product.id } },
          h("h3", { dataset: { testid: "product-name" } }, product.name),
          h("p", { class: "muted" }, product.description),
          h(
            "p",
            { class: "price", dataset: { testid: "product-price" } },
            formatMoney(product.price),
          ),
          h(
            "p",
            { class: "stock", dataset: { testid: "product-stock" } },
            product.stock > 0 ? `${product.stock} in stock` : "Out of stock",
          ),
          h(
            "button",
            {
              type: "button",
              disabled: product.stock <= 0,
              "aria-label": `Add ${product.name} to the cart`,
              dataset: { testid: "add-to-cart" },
              onclick: () => addToCart(product),
            },
            "Add to cart",
          ),
        ),
      ),
    );
  }

  function addToCart(product) {
    const lines = readCart();
    const line = lines.find((l) => l.productId === product.id);
    if (line) line.qty += 1;
    else lines.push({ productId: product.id, name: product.name, price: product.price, qty: 1 });
    writeCart(lines);
    say($("checkout-status"), `${product.name} is in your cart.`);
    cartChanged();
  }

  function setQty(productId, qty) {
    const lines = readCart()
      .map((l) => (l.productId === productId ? { ...l, qty } : l))
      .filter((l) => l.qty > 0);
    writeCart(lines);
    cartChanged();
  }

  function subtotal() {
    return readCart().reduce((sum, line) => sum + line.price * line.qty, 0);
  }

  function renderCart() {
    const lines = readCart();
    $("cart-empty").hidden = lines.length > 0;
    $("checkout").disabled = lines.length === 0;
    $("cart-items").replaceChildren(
      ...lines.map((line) => {
        const id = `qty-${line.productId}`;
        return h(
          "li",
          { dataset: { testid: "cart-item", productId: line.productId } },
          h("span", { class: "name" }, line.name),
          h("label", { class: "visually-hidden", for: id }, `Quantity of ${line.name}`),
          h("input", {
            id,
            type: "number",
            min: "0",
            value: String(line.qty),
            dataset: { testid: "cart-qty" },
            onchange: (event) =>
              setQty(line.productId, Math.max(0, Number(event.target.value) || 0)),
          }),
          h("span", { class: "amount" }, formatMoney(line.price * line.qty)),
          h(
            "button",
            {
              type: "button",
              class: "link",
              "aria-label": `Remove ${line.name}`,
              dataset: { testid: "cart-remove" },
              onclick: () => setQty(line.productId, 0),
            },
            "Remove",
          ),
        );
      }),
    );
    const sub = subtotal();
    const discount = Math.min(state.coupon?.discount ?? 0, sub);
    $("cart-subtotal").textContent = formatMoney(sub);
    $("cart-discount").textContent = discount > 0 ? `−${formatMoney(discount)}` : formatMoney(0);
    $("cart-total").textContent = formatMoney(sub - discount);
  }

  /** The cart changed: show it, and re-check an applied coupon against the new subtotal. */
  function cartChanged() {
    renderCart();
    if (state.coupon !== null) void applyCoupon(state.coupon.code);
  }

  async function applyCoupon(code) {
    if (!session()) return askToLogIn("Log in to use a coupon.");
    if (readCart().length === 0)
      return say($("coupon-status"), "Add something to the cart first.", "error");
    try {
      state.coupon = await api("POST", "/coupons/check", { code, subtotal: subtotal() });
      say(
        $("coupon-status"),
        `${state.coupon.code}: ${formatMoney(state.coupon.discount)} off.`,
        "ok",
      );
    } catch (error) {
      state.coupon = null;
      const why =
        error.code === "COUPON_INVALID" ? couponReason(error.data?.reason) : explain(error);
      say($("coupon-status"), why, "error");
    }
    renderCart();
  }

  async function checkout() {
    if (!session()) return askToLogIn("Log in to check out.");
    const lines = readCart();
    if (lines.length === 0) return;
    const button = $("checkout");
    button.disabled = true;
    say($("checkout-status"), "Placing your order…");
    try {
      const params = { items: lines.map(({ productId, qty }) => ({ productId, qty })) };
      if (state.coupon !== null) params.coupon = state.coupon.code;
      const order = await api("POST", "/orders", params);
      window.dispatchEvent(new CustomEvent("shop:order", { detail: order }));
      if (order.status === "rejected") {
        say($("checkout-status"), `Order rejected: ${rejection(order.reason)}`, "error");
      } else {
        say(
          $("checkout-status"),
          `Thank you! Order ${order.id} is ${order.status}: ${formatMoney(order.total)}.`,
          "ok",
        );
        writeCart([]);
        state.coupon = null;
        say($("coupon-status"), "");
        $("coupon-code").value = "";
      }
    } catch (error) {
      say($("checkout-status"), explain(error), "error");
    }
    renderCart();
    void loadProducts(); // stock changed
  }

  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.q = $("search").value.trim();
    state.page = 1;
    void loadProducts();
  });
  $("page-prev").addEventListener("click", () => {
    state.page = Math.max(1, state.page - 1);
    void loadProducts();
  });
  $("page-next").addEventListener("click", () => {
    state.page += 1;
    void loadProducts();
  });
  $("coupon-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const code = $("coupon-code").value.trim();
    if (code) void applyCoupon(code);
  });
  $("checkout").addEventListener("click", () => void checkout());
  window.addEventListener("storage", (event) => event.key === CART_KEY && renderCart());
  renderCart();
  void loadProducts();
}

/**
 * Why an order was rejected: the saga's `reason` is already a sentence for people ("Out of
 * stock: Enamel Mug", "Coupon ONCE is used up").
 */
export function rejection(reason) {
  return reason ? String(reason) : "no reason was given";
}
