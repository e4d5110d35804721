// The admin page: edit products (name, price, stock), add products, create and edit coupons.
// The gateway refuses these routes to anyone but an administrator (401 without a token, 403 for
// a customer); this page only hides what the API would refuse anyway.
import { api, explain, formatMoney, h, parseMoney, say, session, setSession } from "./api.js";

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const status = (message, kind) => say($("admin-status"), message, kind);

/** An ISO date (or null) as a `datetime-local` value, in local time. */
function toLocalInput(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** A `datetime-local` value as an ISO date, or null when empty. */
const fromLocalInput = (value) => (value ? new Date(value).toISOString() : null);
/** A limit field: a whole number, or null (no limit) when empty. */
const limit = (value) => (value === "" ? null : Number(value));

/** Every product, page after page. */
async function allProducts() {
  const items = [];
  for (let page = 1; page <= 50; page += 1) {
    const result = await api("GET", "/products", { page, pageSize: 50 });
    items.push(...result.items);
    if (items.length >= result.total || result.items.length === 0) break;
  }
  return items;
}

function input(label, attributes) {
  return h("input", { "aria-label": label, ...attributes });
}

async function loadProducts() {
  const products = await allProducts();
  $("admin-products").tBodies[0].replaceChildren(
    ...products.map((product) => {
      const name = input(`Name of ${product.sku}`, {
        value: product.name,
        dataset: { testid: "admin-product-name" },
      });
      const price = input(`Price of ${product.sku} in dollars`, {
        type: "number",
        min: "0",
        step: "0.01",
        value: (product.price / 100).toFixed(2),
        dataset: { testid: "admin-product-price" },
      });
      const stock = input(`Stock of ${product.sku}`, {
        type: "number",
        min: "0",
        step: "1",
        value: String(product.stock),
        dataset: { testid: "admin-product-stock" },
      });
      const save = async () => {
        const cents = parseMoney(price.value);
        if (Number.isNaN(cents)) return status("The price must be a number.", "error");
        try {
          const saved = await api("PATCH", `/products/${encodeURIComponent(product.id)}`, {
            name: name.value.trim(),
            price: cents,
            stock: Number(stock.value),
          });
          status(
            `Saved ${saved.name}: ${formatMoney(saved.price)}, ${saved.stock} in stock.`,
            "ok",
          );
        } catch (error) {
          status(explain(error), "error");
        }
      };
      return h(
        "tr",
        { dataset: { testid: "admin-product-row", productId: product.id, sku: product.sku } },
        h("td", {}, product.sku),
        h("td", {}, name),
        h("td", {}, price),
        h("td", {}, stock),
        h(
          "td",
          {},
          h(
            "button",
            { type: "button", dataset: { testid: "admin-product-save" }, onclick: save },
            "Save",
          ),
        ),
      );
    }),
  );
}

async function loadCoupons() {
  const coupons = await api("GET", "/coupons");
  $("admin-coupons").tBodies[0].replaceChildren(
    ...coupons.map((coupon) => {
      const kind = h(
        "select",
        { "aria-label": `Kind of ${coupon.code}` },
        h("option", { value: "percent", selected: coupon.kind === "percent" }, "percent"),
        h("option", { value: "fixed", selected: coupon.kind === "fixed" }, "fixed"),
      );
      const amount = input(`Amount of ${coupon.code}`, {
        type: "number",
        min: "1",
        value: String(coupon.amount),
      });
      const from = input(`${coupon.code} valid from`, {
        type: "datetime-local",
        value: toLocalInput(coupon.validFrom),
      });
      const until = input(`${coupon.code} valid until`, {
        type: "datetime-local",
        value: toLocalInput(coupon.validUntil),
      });
      const max = input(`Max uses of ${coupon.code}`, {
        type: "number",
        min: "1",
        value: coupon.maxUses ?? "",
      });
      const perUser = input(`Max uses per user of ${coupon.code}`, {
        type: "number",
        min: "1",
        value: coupon.maxUsesPerUser ?? "",
      });
      const save = async () => {
        try {
          await api("PATCH", `/coupons/${encodeURIComponent(coupon.code)}`, {
            kind: kind.value,
            amount: Number(amount.value),
            validFrom: fromLocalInput(from.value),
            validUntil: fromLocalInput(until.value),
            maxUses: limit(max.value),
            maxUsesPerUser: limit(perUser.value),
          });
          status(`Saved coupon ${coupon.code}.`, "ok");
        } catch (error) {
          status(explain(error), "error");
        }
      };
      return h(
        "tr",
        { dataset: { testid: "admin-coupon-row", code: coupon.code } },
        h("td", {}, coupon.code),
        [kind, amount, from, until, max, perUser].map((cell) => h("td", {}, cell)),
        h("td", { dataset: { testid: "admin-coupon-used" } }, String(coupon.used)),
        h(
          "td",
          {},
          h(
            "button",
            { type: "button", dataset: { testid: "admin-coupon-save" }, onclick: save },
            "Save",
          ),
        ),
      );
    }),
  );
}

/** Shows the login form, or the panels for an administrator. */
async function show() {
  const user = session()?.user;
  const isAdmin = user?.role === "admin";
  $("current-user").textContent = user ? `Signed in as ${user.name}` : "Not signed in";
  $("admin-logout").hidden = !user;
  $("admin-login").hidden = isAdmin;
  $("admin-panel").hidden = !isAdmin;
  if (user && !isAdmin)
    status("This page is for administrators: log in with an admin account.", "error");
  if (!isAdmin) return;
  try {
    await Promise.all([loadProducts(), loadCoupons()]);
    document.body.dataset.loaded = "true";
  } catch (error) {
    status(explain(error), "error");
  }
}

$("admin-login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(event.target);
  try {
    const { token, user } = await api("POST", "/login", {
      email: String(data.get("email")),
      password: String(data.get("password")),
    });
    setSession({ token, user });
    status("");
    event.target.reset();
  } catch (error) {
    status(explain(error), "error");
  }
  await show();
});

$("admin-logout").addEventListener("click", () => {
  setSession(null);
  status("You are signed out.");
  void show();
});

$("admin-new-product").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(event.target);
  try {
    const product = await api("POST", "/products", {
      sku: String(data.get("sku")).trim(),
      name: String(data.get("name")).trim(),
      description: String(data.get("description") ?? "").trim(),
      price: parseMoney(String(data.get("price"))),
      stock: Number(data.get("stock")),
    });
    status(`Added ${product.name}.`, "ok");
    event.target.reset();
    await loadProducts();
  } catch (error) {
    status(explain(error), "error");
  }
});

$("admin-new-coupon").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(event.target);
  try {
    const coupon = await api("POST", "/coupons", {
      code: String(data.get("code")).trim(),
      kind: String(data.get("kind")),
      amount: Number(data.get("amount")),
      validFrom: fromLocalInput(String(data.get("validFrom"))),
      validUntil: fromLocalInput(String(data.get("validUntil"))),
      maxUses: limit(String(data.get("maxUses"))),
      maxUsesPerUser: limit(String(data.get("maxUsesPerUser"))),
    });
    status(`Created coupon ${coupon.code}.`, "ok");
    event.target.reset();
    await loadCoupons();
  } catch (error) {
    status(explain(error), "error");
  }
});

window.addEventListener("shop:signed-out", () => void show());
void show();
