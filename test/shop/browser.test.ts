// The shop end to end, as a visitor sees it: `examples/shop/start.ts` runs every service in its
// own process (tcp://, SQLite in a temporary folder, free ports), and a real headless Chromium
// (Debian's, as in test/e2e/docs-page.test.ts) uses the storefront and the admin page. Screenshots
// go to test-results/shop/ and are checked to show something. Without Chromium (outside CI) only
// the smoke run of `npm start` (SHOP_SMOKE=1) is left.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { summarizePng } from "./fixtures/png.js";
import { type ShopProcess, startShop } from "./fixtures/shop-process.js";

const executablePath = "/usr/bin/chromium";
const available = existsSync(executablePath);
if (!available && process.env.CI === "true")
  throw new Error(`${executablePath} is missing: .ci/run installs it`);

const SCREENS = "test-results/shop";
const STEP = 20_000; // the longest any one thing on the page may take

let browser: Browser | undefined;
let shop: ShopProcess | undefined;
let page: Page;
const errors: string[] = [];
const outside: string[] = [];

/** The element with `data-testid="<id>"`, optionally inside `scope`. */
const byId = (id: string, scope: Page | ReturnType<Page["locator"]> = page) =>
  scope.locator(`[data-testid="${id}"]`);

/** Saves a full-page screenshot and checks it is not blank. */
async function screenshot(name: string): Promise<void> {
  const path = `${SCREENS}/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  const png = readFileSync(path);
  expect(png.length, `${path} is too small to show anything`).toBeGreaterThan(8_000);
  expect(summarizePng(png).colours, `${path} is (nearly) one colour`).toBeGreaterThan(50);
}

/** Opens a fresh page (its own session and cart) that records script errors and requests. */
async function newPage(): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
  const opened = await context.newPage();
  opened.setDefaultTimeout(STEP);
  opened.on("pageerror", (err) => errors.push(err.message));
  opened.on("request", (req) => {
    if (!req.url().startsWith(shop!.base) && !req.url().startsWith("data:"))
      outside.push(req.url());
  });
  return opened;
}

/** Searches the catalog and adds the one product found `qty` times (the cart's quantity box). */
async function addToCart(search: string, name: string, qty = 1): Promise<void> {
  await page.goto(`${shop!.base}/#shop`);
  await byId("search").fill(search);
  await byId("search-submit").click();
  const card = byId("product-card").filter({ hasText: name });
  await expect.poll(() => byId("product-card").count(), { timeout: STEP }).toBe(1);
  await byId("add-to-cart", card).click();
  const line = byId("cart-item").filter({ hasText: name });
  await line.waitFor();
  if (qty !== 1) {
    await byId("cart-qty", line).fill(String(qty));
    await byId("cart-qty", line).press("Tab"); // `change` fires on leaving the field
  }
}

describe("npm start's smoke run (SHOP_SMOKE=1)", () => {
  it("starts every service, gets the products through the gateway, stops them and exits 0", async () => {
    const run = await startShop(90_000, { SHOP_SMOKE: "1" });
    const code = await run.stop();
    expect(run.output()).toMatch(/Smoke: GET \/api\/products -> 200, [1-9]\d* products/);
    expect(code, run.output()).toBe(0);
  }, 120_000);
});

beforeAll(async () => {
  if (!available) return;
  mkdirSync(SCREENS, { recursive: true });
  [shop, browser] = await Promise.all([
    startShop(),
    chromium.launch({
      executablePath,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    }),
  ]);
  page = await newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  // Every node stops cleanly on SIGTERM: start.ts exits 0 only if none had to be killed.
  if (shop !== undefined) expect(await shop.stop(), shop.output()).toBe(0);
}, 60_000);

describe.skipIf(!available)("the shop in a browser (skipped here: no /usr/bin/chromium)", () => {
  it("registers, logs in, buys with a coupon, sees the order confirmed live, and gets the mail", async () => {
    await page.goto(`${shop!.base}/#account`);
    await byId("register-name").fill("Grace Hopper");
    await byId("register-email").fill("grace@shop.test");
    await byId("register-password").fill("cobol-forever");
    await byId("register-submit").click();
    await expect.poll(() => byId("current-user").textContent()).toBe("Signed in as Grace Hopper");
    // Out and in again, through the login form.
    await page.goto(`${shop!.base}/#account`);
    await byId("logout").click();
    await expect.poll(() => byId("current-user").textContent()).toBe("Not signed in");
    await byId("login-email").fill("grace@shop.test");
    await byId("login-password").fill("cobol-forever");
    await byId("login-submit").click();
    await expect.poll(() => byId("current-user").textContent()).toBe("Signed in as Grace Hopper");
    await page
      .locator('[data-testid="live-connection"][data-state="open"]')
      .waitFor({ state: "attached" });

    await addToCart("mug", "Enamel Mug", 2);
    await expect.poll(() => byId("cart-subtotal").textContent()).toBe("$24.00");
    await byId("coupon-code").fill("WELCOME10");
    await byId("coupon-apply").click();
    await expect.poll(() => byId("coupon-status").textContent()).toBe("WELCOME10: $2.40 off.");
    await expect.poll(() => byId("cart-total").textContent()).toBe("$21.60");
    await screenshot("cart");

    await byId("checkout").click();
    await expect
      .poll(() => byId("checkout-status").textContent())
      .toMatch(/Order .+ is confirmed: \$21\.60/);
    const orderId = /Order (\S+) is confirmed/.exec(
      (await byId("checkout-status").textContent())!,
    )![1]!;
    await expect.poll(() => byId("cart-items").locator("li").count()).toBe(0);

    // The live status came over the event stream (the order list reloads on it).
    await page.goto(`${shop!.base}/#orders`);
    await expect
      .poll(() => byId("live-status").textContent())
      .toBe(`Order ${orderId} is confirmed.`);
    const order = page.locator(`[data-testid="order"][data-order-id="${orderId}"]`);
    await expect
      .poll(() => byId("order-status", order).getAttribute("data-status"))
      .toBe("confirmed");
    await expect.poll(() => byId("order-total", order).textContent()).toBe("$21.60");
    await screenshot("orders");

    await byId("nav-mailbox").click();
    const mail = byId("mail").filter({ hasText: `Your order ${orderId} is confirmed` });
    await mail.waitFor(); // the mailbox view looks again every few seconds
    await mail.locator("summary").click();
    await expect.poll(() => byId("mail-text", mail).textContent()).toContain("Enamel Mug");
    await screenshot("mailbox");
  });

  it("shows why a checkout was rejected, and refuses a spent coupon", async () => {
    await addToCart("poster", "Fleet Poster", 50); // 3 in stock
    await byId("checkout").click();
    await expect
      .poll(() => byId("checkout-status").textContent())
      .toBe("Order rejected: Out of stock: Fleet Poster");
    await expect
      .poll(() => byId("live-status").textContent())
      .toMatch(/was rejected: Out of stock: Fleet Poster$/);
    await screenshot("rejected");
    await byId("cart-remove").click();

    // ONCE takes 50 % off, for one order in the whole shop.
    await addToCart("notebook", "Dotted Notebook");
    await byId("coupon-code").fill("ONCE");
    await byId("coupon-apply").click();
    await expect.poll(() => byId("coupon-status").textContent()).toBe("ONCE: $7.00 off.");
    await byId("checkout").click();
    await expect
      .poll(() => byId("checkout-status").textContent())
      .toMatch(/is confirmed: \$7\.00\.$/);
    await addToCart("notebook", "Dotted Notebook");
    await byId("coupon-code").fill("ONCE");
    await byId("coupon-apply").click();
    await expect
      .poll(() => byId("coupon-status").textContent())
      .toBe("This coupon has been used up.");
    await screenshot("spent-coupon");
  });

  it("lets an administrator change a product and add a coupon", async () => {
    page = await newPage(); // a new session: nobody is logged in
    await page.goto(`${shop!.base}/admin.html`);
    await byId("admin-login-email").fill("admin@shop.test");
    await byId("admin-login-password").fill("admin-pass-123");
    await byId("admin-login-submit").click();
    await page.locator("body[data-loaded]").waitFor({ state: "attached" });

    const row = page.locator('[data-testid="admin-product-row"][data-sku="MUG-001"]');
    await byId("admin-product-name", row).fill("Enamel Mug XL");
    await byId("admin-product-price", row).fill("13.50");
    await byId("admin-product-stock", row).fill("7");
    await byId("admin-product-save", row).click();
    await expect
      .poll(() => byId("admin-status").textContent())
      .toBe("Saved Enamel Mug XL: $13.50, 7 in stock.");

    await byId("new-coupon-code").fill("SPRING20");
    await byId("new-coupon-amount").fill("20");
    await byId("new-coupon-max-uses").fill("100");
    await byId("new-coupon-submit").click();
    const coupon = page.locator('[data-testid="admin-coupon-row"][data-code="SPRING20"]');
    await coupon.waitFor();
    await screenshot("admin");

    await addToCart("mug xl", "Enamel Mug XL");
    const card = byId("product-card").filter({ hasText: "Enamel Mug XL" });
    expect(await byId("product-price", card).textContent()).toBe("$13.50");
    expect(await byId("product-stock", card).textContent()).toBe("7 in stock");

    expect(errors).toEqual([]); // no script error on any page
    expect(outside).toEqual([]); // nothing from other origins: no CDN
  });
});
